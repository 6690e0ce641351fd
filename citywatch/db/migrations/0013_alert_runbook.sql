-- What the operator does about an alert (the control centre's procedure for its rule, from the rules file's
-- policies): kept on the alert, shown in the console and sent with its notifications.
ALTER TABLE alerts ADD COLUMN runbook text;
