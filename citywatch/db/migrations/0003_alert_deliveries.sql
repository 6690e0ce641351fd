-- Delivery of each notification to each sink (MQTT, webhooks), with retries and backoff.
CREATE TABLE alert_deliveries (
    outbox_id       bigint NOT NULL REFERENCES alert_outbox ON DELETE CASCADE,
    sink            text NOT NULL,
    delivered_at    timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    PRIMARY KEY (outbox_id, sink)
);
CREATE INDEX alert_deliveries_pending ON alert_deliveries (sink, next_attempt_at) WHERE delivered_at IS NULL;
