-- Alerts: one row per alert, de-duplicated by key (rule + subject) while not
-- resolved; every transition audited; notifications go through an outbox that
-- a dispatcher drains after the commit.
CREATE TABLE alerts (
    id                bigserial PRIMARY KEY,
    key               text NOT NULL,
    rule              text NOT NULL,
    subject           text NOT NULL,
    kind              text NOT NULL,
    severity          smallint NOT NULL CHECK (severity BETWEEN 1 AND 3),  -- 1 info, 2 warning, 3 critical
    state             text NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    title             text NOT NULL,
    explanation       jsonb NOT NULL,
    opened_at         timestamptz NOT NULL,
    last_seen         timestamptz NOT NULL,
    count             integer NOT NULL DEFAULT 1,
    peak              double precision,
    condition_active  boolean NOT NULL DEFAULT true,
    acknowledged_at   timestamptz,
    acknowledged_by   text,
    resolved_at       timestamptz,
    resolved_by       text,
    assignee          text,
    escalated_at      timestamptz,
    reopen_count      integer NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- at most one live alert per key, whoever raises it
CREATE UNIQUE INDEX alerts_live_key ON alerts (key) WHERE state <> 'resolved';
CREATE INDEX alerts_key_resolved ON alerts (key, resolved_at DESC);
CREATE INDEX alerts_state_severity ON alerts (state, severity DESC, opened_at DESC);
CREATE INDEX alerts_subject ON alerts (subject, opened_at DESC);

CREATE TABLE alert_audit (
    id          bigserial PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alerts ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    action      text NOT NULL,
    actor       text NOT NULL,
    from_state  text,
    to_state    text NOT NULL,
    detail      text NOT NULL DEFAULT ''
);
CREATE INDEX alert_audit_alert ON alert_audit (alert_id, id);

CREATE TABLE alert_outbox (
    id           bigserial PRIMARY KEY,
    alert_id     bigint NOT NULL REFERENCES alerts ON DELETE CASCADE,
    what         text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
);
CREATE INDEX alert_outbox_pending ON alert_outbox (id) WHERE delivered_at IS NULL;

-- Analytics: hourly air-quality results and persisted detector state.
CREATE TABLE aq_hourly (
    hour        timestamptz NOT NULL,
    device_id   text NOT NULL,
    pm10_24h    real, pm25_24h real, o3 real, no2 real, co real, so2 real,
    cai         smallint,
    grade       text,
    dominant    text,
    sub_indices jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (device_id, hour)
);
SELECT create_hypertable('aq_hourly', by_range('hour', INTERVAL '30 days'));

CREATE TABLE analytics_state (
    name       text PRIMARY KEY,          -- e.g. 'cursor:air_quality', 'detectors:aq-001'
    state      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
