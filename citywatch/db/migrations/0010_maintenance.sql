-- Maintenance windows: while a device (or every device of a zone) is being serviced, its alerts are still
-- raised, recorded and audited, but their notifications are held back from the sinks (MQTT, webhooks) and
-- critical ones are not escalated. When the window ends, the alerts still live are notified then.
CREATE TABLE maintenance (
    id           bigserial PRIMARY KEY,
    subject      text NOT NULL,            -- a device id, or 'zone:{zone_id}' for every device of the zone
    rule_prefix  text,                     -- only the rules under this prefix ('aq', 'device.offline'); NULL: all
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    reason       text NOT NULL,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    ended_at     timestamptz,              -- ended early by an operator
    ended_by     text,
    CHECK (ends_at > starts_at)
);
CREATE INDEX maintenance_subject ON maintenance (subject, ends_at DESC);

-- the window holding back an alert's notifications (NULL: none); set on each notification
ALTER TABLE alerts ADD COLUMN muted_by bigint REFERENCES maintenance;
CREATE INDEX alerts_muted ON alerts (muted_by) WHERE muted_by IS NOT NULL;
-- a notification written while muted: kept for the record and the live console, not sent to the sinks
ALTER TABLE alert_outbox ADD COLUMN muted_by bigint REFERENCES maintenance;
