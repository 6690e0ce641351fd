-- A bus terminal paired once with a short code an operator reads out from the console, instead of the
-- bus's 32-character password typed on a dashboard: one use, ten minutes, void after five wrong tries.
CREATE TABLE terminal_pairings (
    id          bigserial PRIMARY KEY,
    bus_id      text NOT NULL REFERENCES devices ON DELETE CASCADE,
    code_digest bytea NOT NULL,            -- SHA-256 of "{bus_id}:{code}": the code itself is not kept
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    expires_at  timestamptz NOT NULL,
    failures    integer NOT NULL DEFAULT 0,
    used_at     timestamptz
);
CREATE INDEX terminal_pairings_live ON terminal_pairings (bus_id, expires_at) WHERE used_at IS NULL;
