-- Garages that count instead of sensing each space: a barrier-gate counter reports how many of its
-- capacity are taken (and, where it can, the cars in and out since its previous report). Stored as
-- sent, a count above the capacity or below zero included: the analytics judge it.
CREATE TABLE IF NOT EXISTS parking_counts (
    time        timestamptz NOT NULL,
    device_id   text NOT NULL,
    seq         bigint NOT NULL,
    lot_id      text NOT NULL,
    occupied    integer NOT NULL,
    capacity    integer NOT NULL,
    entries     integer,
    exits       integer,
    received_at timestamptz NOT NULL,
    UNIQUE (device_id, time, seq)
);
SELECT create_hypertable('parking_counts', by_range('time', INTERVAL '7 days'), if_not_exists => true);
CREATE INDEX IF NOT EXISTS parking_counts_lot_time ON parking_counts (lot_id, time DESC);
