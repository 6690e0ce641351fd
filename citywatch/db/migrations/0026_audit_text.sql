-- What the system wrote in an audit entry (why an alert cleared, what it was raised from and to), as a
-- catalogue text (citywatch.i18n.Text) the API renders in the reader's language; `detail` keeps its English.
ALTER TABLE alert_audit ADD COLUMN detail_text jsonb;
