-- Who decides that a device is offline: this function, and nothing else. The analytics raise
-- device.offline from it, the API shows each device's state from it, Grafana counts devices online from it.
--
-- A device is offline by its Last Will (its newest status is `offline`, no older than its last message),
-- or by silence: no message for `factor` expected intervals, and at least `min_s` seconds. A device with no
-- expected interval (event-driven: cameras, bell panels) is judged by its Last Will alone. A device that
-- comes back (an `online` status) is alive from then, though its data may lag. `never_seen`: neither a
-- message nor a status yet; `retired`: taken out of the registry.
--
-- `factor` and `min_s` default to what the analytics service runs with (it writes them to analytics_state
-- 'analytics:v1:health' when it starts), else to the settings' defaults (3 and 300 s).
CREATE OR REPLACE FUNCTION device_health(
    at_time timestamptz DEFAULT now(), factor float8 DEFAULT NULL, min_s float8 DEFAULT NULL
) RETURNS TABLE (
    device_id text, kind text, zone_id text, registry_status text, expected_interval_s float8,
    last_seen timestamptz, will text, will_at timestamptz, silent_s float8, by_will boolean,
    state text, down_since timestamptz
) LANGUAGE sql STABLE AS $$
WITH cfg AS (
    SELECT coalesce(factor, (SELECT (a.state->>'offline_factor')::float8 FROM analytics_state a
                             WHERE a.name = 'analytics:v1:health'), 3.0) AS factor,
           coalesce(min_s, (SELECT (a.state->>'offline_min_s')::float8 FROM analytics_state a
                            WHERE a.name = 'analytics:v1:health'), 300.0) AS min_s
), heard AS (
    SELECT d.device_id, d.kind, d.zone_id, d.status, d.expected_interval_s::float8 AS interval_s,
           s.last_seen, w.status AS will, w.received_at AS will_at
    FROM devices d
    LEFT JOIN (SELECT ds.device_id, max(ds.last_received_at) AS last_seen FROM device_streams ds GROUP BY 1) s
           ON s.device_id = d.device_id
    LEFT JOIN LATERAL (SELECT x.status, x.received_at FROM device_status x WHERE x.device_id = d.device_id
                       ORDER BY x.time DESC, x.received_at DESC LIMIT 1) w ON true
), judged AS (
    SELECT h.*,
           coalesce(h.will = 'offline' AND (h.last_seen IS NULL OR h.will_at >= h.last_seen), false) AS by_will,
           CASE WHEN h.last_seen IS NOT NULL AND h.will = 'online' THEN greatest(h.last_seen, h.will_at)
                ELSE h.last_seen END AS alive,
           CASE WHEN coalesce(h.interval_s, 0) > 0 THEN greatest(cfg.factor * h.interval_s, cfg.min_s) END
               AS limit_s
    FROM heard h, cfg
), silent AS (
    SELECT j.*, extract(epoch FROM at_time - j.alive)::float8 AS silent_s,
           j.by_will OR coalesce(extract(epoch FROM at_time - j.alive) > j.limit_s, false) AS down
    FROM judged j
)
SELECT s.device_id, s.kind, s.zone_id, s.status, s.interval_s, s.last_seen, s.will, s.will_at, s.silent_s,
       s.by_will,
       CASE WHEN s.status = 'retired' THEN 'retired'
            WHEN s.down THEN 'offline'
            WHEN s.last_seen IS NULL AND s.will IS NULL THEN 'never_seen'
            ELSE 'online' END,
       CASE WHEN s.by_will THEN s.will_at WHEN s.down THEN s.last_seen END
FROM silent s
$$;
