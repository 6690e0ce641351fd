-- Licence plates read by ANPR cameras: personal data, erased from events after
-- CITYWATCH_PRIVACY_PLATE_RETENTION_H (citywatch.db.privacy); the event itself stays.
ALTER TABLE cctv_events ADD COLUMN plate text;
CREATE INDEX cctv_events_plate_time ON cctv_events (time) WHERE plate IS NOT NULL;
