-- A sink may take at most so many notifications an hour (notifications.{sink}.max_per_hour): past it,
-- notifications are held back (recorded for that sink, never sent) and counted, and one digest says how
-- many, of which severities, once the sink may be sent again.
ALTER TABLE outbox_cursors ADD COLUMN held integer NOT NULL DEFAULT 0;
ALTER TABLE outbox_cursors ADD COLUMN held_since timestamptz;
ALTER TABLE outbox_cursors ADD COLUMN held_counts jsonb NOT NULL DEFAULT '{}';
ALTER TABLE outbox_cursors ADD COLUMN digest_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE outbox_cursors ADD COLUMN digest_next_at timestamptz;
-- what a sink was actually sent in the last hour
CREATE INDEX alert_deliveries_sent ON alert_deliveries (sink, delivered_at) WHERE last_error IS NULL;
