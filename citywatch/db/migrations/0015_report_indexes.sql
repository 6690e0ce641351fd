-- The shift report and the alert statistics read a time range of alerts, audit entries and deliveries:
-- without these, each would scan the whole history.
CREATE INDEX IF NOT EXISTS alerts_opened ON alerts (opened_at);
CREATE INDEX IF NOT EXISTS alert_audit_at ON alert_audit (at);
CREATE INDEX IF NOT EXISTS alert_deliveries_at ON alert_deliveries (delivered_at);
