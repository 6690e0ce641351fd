-- The alert's severity at each step of its audit trail: the alarm load counts an annunciation at the
-- severity it was announced with, not the alert's latest (an alert raised to critical later was a warning
-- when it reached the operators). Rows written before this migration have none (NULL: the alert's own).
ALTER TABLE alert_audit ADD COLUMN IF NOT EXISTS severity smallint;
