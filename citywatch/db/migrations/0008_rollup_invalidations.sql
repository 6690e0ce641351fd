-- Hours whose rollup must be recomputed. Ingest records the hour of every air-quality row it writes
-- (in the same transaction, so no write is ever missed, however late it arrives); the rollup
-- refresher (citywatch.db.rollups) recomputes those hours and deletes the entries. This is what a
-- continuous aggregate's invalidation log does, for the Apache edition that has none.
CREATE TABLE rollup_invalidations (
    rollup text NOT NULL,
    bucket timestamptz NOT NULL,
    PRIMARY KEY (rollup, bucket)
);
