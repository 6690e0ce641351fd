-- Control-centre API: operator accounts, service API keys, and the order in
-- which alert notifications become visible (the live stream's cursor).
CREATE TABLE api_users (
    username      text PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9_.@-]{2,64}$'),
    full_name     text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);

-- Long-lived keys for services (Grafana, a neighbouring city). Only a SHA-256
-- digest of the secret is stored; the prefix identifies the key in logs and lists.
CREATE TABLE api_keys (
    id           bigserial PRIMARY KEY,
    prefix       text NOT NULL UNIQUE,
    digest       bytea NOT NULL UNIQUE,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Every change an operator or admin makes through the API (besides the alert audit trail).
CREATE TABLE api_audit (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,
    target  text NOT NULL,
    detail  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX api_audit_at ON api_audit (at DESC);

-- The live alert stream resumes from an outbox id. Writers take a lock before
-- adding to the outbox (alerts.store), so ids become visible in order and a
-- reader that has seen id N never later finds a committed id below N.
CREATE INDEX alert_outbox_alert ON alert_outbox (alert_id, id);
