-- The transit agency's GTFS static feeds as uploaded (PUT /api/v1/transit/feed): the boarding bell runs on
-- the newest; uploading a feed again makes it the newest once more.
CREATE TABLE transit_feeds (
    id          bigserial PRIMARY KEY,
    sha256      text NOT NULL UNIQUE,
    feed        bytea NOT NULL,
    routes      integer NOT NULL,
    stops       integer NOT NULL,
    directions  integer NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    uploaded_by text NOT NULL
);
CREATE INDEX transit_feeds_newest ON transit_feeds (uploaded_at DESC);
