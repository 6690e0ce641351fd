-- Escalation in levels: a critical alert still unacknowledged after its escalation goes up the chain its
-- rule's policy sets (escalate_again_after_s), each level notified ('escalated' with escalation_level), so a
-- sink can be the duty supervisor's (level 1) or the centre manager's (level 2 and up). An alert escalated
-- before this migration stands at level 1; escalated_at is now when it last went up (or was reminded).
ALTER TABLE alerts ADD COLUMN escalation_level smallint NOT NULL DEFAULT 0;
UPDATE alerts SET escalation_level = 1 WHERE escalated_at IS NOT NULL;
-- Since when an alert is open and unanswered, when that is not opened_at: re-opened, or raised to a worse
-- severity (its escalation counts from then, not from when it first opened).
ALTER TABLE alerts ADD COLUMN open_since timestamptz;
