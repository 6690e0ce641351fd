-- Bus terminals acknowledging boarding-bell alerts (uplink cw/v1/bus/{bus}/ack).
CREATE TABLE driver_acks (
    time        timestamptz NOT NULL,
    device_id   text NOT NULL,
    seq         bigint NOT NULL,
    stop_id     text NOT NULL,
    request_ids text[] NOT NULL,
    received_at timestamptz NOT NULL,
    UNIQUE (device_id, time, seq)
);
SELECT create_hypertable('driver_acks', by_range('time', INTERVAL '30 days'));
