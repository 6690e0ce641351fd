-- A maintenance window's end can be moved (the work takes longer, or is done sooner): who moved it last,
-- and when. The window keeps its id, so the alerts it mutes stay muted without a gap.
ALTER TABLE maintenance ADD COLUMN changed_at timestamptz;
ALTER TABLE maintenance ADD COLUMN changed_by text;
