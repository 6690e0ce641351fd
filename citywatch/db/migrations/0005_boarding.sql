-- Boarding bell: every request's current status, and every bus's passage at a stop.
CREATE TABLE bell_requests (
    request_id   text PRIMARY KEY,
    device_id    text NOT NULL,
    stop_id      text NOT NULL,
    route_id     text NOT NULL,
    passengers   integer NOT NULL DEFAULT 1,
    wheelchair   boolean NOT NULL DEFAULT false,
    status       text NOT NULL CHECK (status IN ('pending', 'assigned', 'no_bus', 'fulfilled', 'cancelled',
                                                 'expired', 'rejected')),
    bus_id       text,
    eta_s        real,
    reason       text,
    requested_at timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX bell_requests_open ON bell_requests (stop_id, route_id) WHERE status IN ('pending', 'assigned', 'no_bus');
CREATE INDEX bell_requests_updated ON bell_requests (updated_at DESC);

CREATE TABLE bell_passes (
    time        timestamptz NOT NULL,
    bus_id      text NOT NULL,
    route_id    text NOT NULL,
    stop_id     text NOT NULL,
    served      boolean NOT NULL,
    request_ids text[] NOT NULL
);
SELECT create_hypertable('bell_passes', by_range('time', INTERVAL '30 days'));
CREATE INDEX bell_passes_route ON bell_passes (route_id, time DESC);
