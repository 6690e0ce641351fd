-- Where each sink (the MQTT topic, each webhook) stands in the outbox: every notification with an id below
-- next_id is handled for that sink (delivered, refused by its route, or muted). Outbox ids become visible in
-- commit order (alerts.store serialises outbox writers), so nothing can appear below a cursor later. Delivery
-- reads from the cursor instead of scanning the whole outbox history for what is undelivered.
CREATE TABLE outbox_cursors (
    sink       text PRIMARY KEY,
    next_id    bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- sinks that delivered before this migration resume where they stood
INSERT INTO outbox_cursors (sink, next_id)
SELECT d.sink, coalesce(min(d.outbox_id) FILTER (WHERE d.delivered_at IS NULL), max(d.outbox_id) + 1)
FROM alert_deliveries d
GROUP BY d.sink;

-- alert_outbox.delivered_at has not been written since deliveries became per sink (0003): this partial
-- index held every row and served no query
DROP INDEX IF EXISTS alert_outbox_pending;
