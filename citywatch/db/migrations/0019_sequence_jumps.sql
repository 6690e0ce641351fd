-- Sequence numbers from real devices: a number too far ahead for the time that passed is a corrupt or
-- re-initialised counter (a jump), not messages lost; the count goes on from it, and from the number
-- before it (before_jump) if the device goes on from there (the jump was one corrupt message).
ALTER TABLE device_streams ADD COLUMN IF NOT EXISTS jumps bigint NOT NULL DEFAULT 0;
ALTER TABLE device_streams ADD COLUMN IF NOT EXISTS before_jump bigint;
