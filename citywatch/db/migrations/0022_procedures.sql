-- An alert's procedure (alerts/runbooks.py) is a checklist in every language: {"ko": [steps], "en": [steps]}.
-- A procedure written before as one text becomes a checklist of that one step.
ALTER TABLE alerts ALTER COLUMN runbook TYPE jsonb USING
    CASE WHEN runbook IS NULL THEN NULL
         ELSE jsonb_build_object('ko', jsonb_build_array(runbook), 'en', jsonb_build_array(runbook)) END;
