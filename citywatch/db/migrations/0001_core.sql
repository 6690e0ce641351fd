-- citywatch core schema: device registry, one hypertable per stream, dead letters, ingest accounting.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE zones (
    zone_id     text PRIMARY KEY,
    name        text NOT NULL,
    meta        jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE parking_lots (
    lot_id      text PRIMARY KEY,
    name        text NOT NULL,
    capacity    integer NOT NULL CHECK (capacity >= 0),
    lat         double precision NOT NULL,
    lon         double precision NOT NULL,
    zone_id     text REFERENCES zones,
    meta        jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE devices (
    device_id           text PRIMARY KEY CHECK (device_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    kind                text NOT NULL CHECK (kind IN ('aq', 'parking', 'cctv', 'bus', 'stop')),
    name                text NOT NULL,
    lat                 double precision,
    lon                 double precision,
    zone_id             text REFERENCES zones,
    lot_id              text REFERENCES parking_lots,
    expected_interval_s double precision,           -- how often it should be heard from
    meta                jsonb NOT NULL DEFAULT '{}',
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    credential_version  integer NOT NULL DEFAULT 1, -- bump to revoke the device's broker password
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_kind_zone ON devices (kind, zone_id);

-- Stream hypertables. Every row keeps the device time (time), its sequence
-- number and when ingest received it. The unique key makes writes idempotent:
-- a QoS 1 redelivery never makes a second row.
CREATE TABLE air_quality (
    time        timestamptz NOT NULL,
    device_id   text NOT NULL,
    seq         bigint NOT NULL,
    pm10        real, pm25 real,
    o3          real, no2 real, co real, so2 real,
    temp_c      real, rh real,
    received_at timestamptz NOT NULL,
    UNIQUE (device_id, time, seq)
);
SELECT create_hypertable('air_quality', by_range('time', INTERVAL '7 days'));

CREATE TABLE parking_events (
    time        timestamptz NOT NULL,
    device_id   text NOT NULL,
    seq         bigint NOT NULL,
    lot_id      text NOT NULL,
    space_id    text NOT NULL,
    occupied    boolean NOT NULL,
    reason      text NOT NULL,
    battery_pct real,
    rssi_dbm    real,
    received_at timestamptz NOT NULL,
    UNIQUE (device_id, time, seq)
);
SELECT create_hypertable('parking_events', by_range('time', INTERVAL '7 days'));
CREATE INDEX parking_events_lot_time ON parking_events (lot_id, time DESC);

CREATE TABLE cctv_events (
    time         timestamptz NOT NULL,
    device_id    text NOT NULL,
    seq          bigint NOT NULL,
    event_id     text NOT NULL,
    event_type   text NOT NULL,
    confidence   real NOT NULL,
    object_class text NOT NULL,
    bbox         real[] NOT NULL,
    zone         text NOT NULL,
    object_count integer,
    received_at  timestamptz NOT NULL,
    UNIQUE (device_id, time, seq),
    UNIQUE (event_id, time)
);
SELECT create_hypertable('cctv_events', by_range('time', INTERVAL '7 days'));
CREATE INDEX cctv_events_type_time ON cctv_events (event_type, time DESC);
CREATE INDEX cctv_events_zone_time ON cctv_events (zone, time DESC);

CREATE TABLE bus_positions (
    time        timestamptz NOT NULL,
    device_id   text NOT NULL,
    seq         bigint NOT NULL,
    route_id    text NOT NULL,
    lat         double precision NOT NULL,
    lon         double precision NOT NULL,
    speed_kmh   real NOT NULL,
    heading_deg real NOT NULL,
    door_open   boolean NOT NULL,
    received_at timestamptz NOT NULL,
    UNIQUE (device_id, time, seq)
);
SELECT create_hypertable('bus_positions', by_range('time', INTERVAL '1 day'));
CREATE INDEX bus_positions_route_time ON bus_positions (route_id, time DESC);

CREATE TABLE stop_requests (
    time        timestamptz NOT NULL,
    device_id   text NOT NULL,
    seq         bigint NOT NULL,
    request_id  text NOT NULL,
    stop_id     text NOT NULL,
    route_id    text NOT NULL,
    passengers  integer NOT NULL,
    source      text NOT NULL,
    wheelchair  boolean NOT NULL,
    action      text NOT NULL,
    received_at timestamptz NOT NULL,
    UNIQUE (device_id, time, seq)
);
SELECT create_hypertable('stop_requests', by_range('time', INTERVAL '30 days'));
CREATE INDEX stop_requests_stop_time ON stop_requests (stop_id, time DESC);

CREATE TABLE device_status (
    time        timestamptz NOT NULL,
    device_id   text NOT NULL,
    status      text NOT NULL CHECK (status IN ('online', 'offline')),
    reason      text,
    received_at timestamptz NOT NULL,
    UNIQUE (device_id, time, status)
);
SELECT create_hypertable('device_status', by_range('time', INTERVAL '30 days'));

-- The "device over time" index: (device_id, time DESC) on every stream. The
-- unique keys above lead with device_id too, and serve "latest per device".
CREATE INDEX air_quality_device_time ON air_quality (device_id, time DESC);
CREATE INDEX parking_events_device_time ON parking_events (device_id, time DESC);
CREATE INDEX cctv_events_device_time ON cctv_events (device_id, time DESC);
CREATE INDEX bus_positions_device_time ON bus_positions (device_id, time DESC);
CREATE INDEX stop_requests_device_time ON stop_requests (device_id, time DESC);
CREATE INDEX device_status_device_time ON device_status (device_id, time DESC);

-- Everything ingest could not accept, with the reason. Identical bytes on the
-- same topic are one message (a redelivery), so the digest is unique.
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL,
    topic       text NOT NULL,
    payload     bytea NOT NULL,
    reason      text NOT NULL,
    detail      text NOT NULL DEFAULT '',
    device_id   text,
    digest      bytea NOT NULL UNIQUE
);
CREATE INDEX dead_letters_received ON dead_letters (received_at DESC);
CREATE INDEX dead_letters_reason ON dead_letters (reason, received_at DESC);
CREATE INDEX dead_letters_device ON dead_letters (device_id, received_at DESC);

-- Per-device sequence accounting, updated in the same transaction as the rows.
CREATE TABLE device_streams (
    device_id        text NOT NULL,
    stream           text NOT NULL,
    last_seq         bigint NOT NULL,
    max_seq          bigint NOT NULL,
    received         bigint NOT NULL DEFAULT 0,
    gaps             bigint NOT NULL DEFAULT 0,  -- messages the device sent that never arrived (so far)
    resets           bigint NOT NULL DEFAULT 0,  -- sequence restarts (reboots)
    last_time        timestamptz NOT NULL,
    last_received_at timestamptz NOT NULL,
    PRIMARY KEY (device_id, stream)
);

-- Ingest counters per worker, committed with the batch they describe, so that
-- they stay exact across crashes: received = written + duplicates + dead_lettered.
CREATE TABLE ingest_counters (
    worker        text PRIMARY KEY,
    received      bigint NOT NULL DEFAULT 0,
    written       bigint NOT NULL DEFAULT 0,
    duplicates    bigint NOT NULL DEFAULT 0,
    dead_lettered bigint NOT NULL DEFAULT 0,
    batches       bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
