"""The citywatch dashboards, as code. ``DASHBOARDS`` maps a file name to a builder function;
``citywatch grafana build`` writes their JSON to ``grafana/dashboards/`` (committed, and checked
for drift by the tests); ``citywatch grafana push`` upserts them into a running Grafana.

Every panel reads the TimescaleDB datasource with SQL that uses Grafana's time macros
(``$__timeFilter``, ``$__timeGroupAlias``, ``$__interval``), so panels follow the dashboard's time
range, and template variables (``$zone``, ``$station``, ``$lot``, ``$route``, ``$kind``) where they
narrow what an operator looks at.
"""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.builders import dashboard

from grafana.operations import STREAMS, alerts, platform
from grafana.panels import (
    CITY_TZ,
    GREEN_RED,
    HEALTH,
    ONLINE,
    SEVERITY_NAME,
    ZONE,
    bars,
    board,
    city_tz,
    device_map,
    gauges,
    stat_panel,
    table_panel,
    thresholds,
    ts,
    variable,
)
from grafana.sql import DATASOURCE

CAI_BANDS = thresholds(
    (None, "blue"), (51, "green"), (101, "yellow"), (251, "red")
)  # good / moderate / unhealthy / very unhealthy
LOT_SPACES = """
    SELECT l.lot_id, l.name, l.capacity, l.zone_id, l.lat, l.lon, count(p.occupied) AS reporting,
           count(*) FILTER (WHERE p.occupied) AS occupied
    FROM parking_lots l JOIN devices d ON d.lot_id = l.lot_id AND d.kind = 'parking' AND d.status = 'active'
    LEFT JOIN LATERAL (SELECT occupied FROM parking_events e WHERE e.device_id = d.device_id
                       ORDER BY e.time DESC LIMIT 1) p ON true
    GROUP BY l.lot_id, l.name, l.capacity, l.zone_id, l.lat, l.lon
"""


def overview() -> dashboard.Dashboard:
    return (
        board("citywatch-overview", "Control room overview", "The whole city at a glance", refresh="10s")
        .with_variable(ZONE)
        .with_panel(stat_panel(
            "Open alerts by severity",
            "SELECT count(*) FILTER (WHERE severity = 3) AS critical, count(*) FILTER (WHERE severity = 2) AS warning,"
            " count(*) FILTER (WHERE severity = 1) AS info FROM alerts WHERE state <> 'resolved'",
            w=8, th=GREEN_RED,
        ))
        .with_panel(stat_panel(
            "City-wide CAI (worst station)",
            "SELECT max(cai) AS cai FROM (SELECT DISTINCT ON (a.device_id) a.cai FROM aq_hourly a"
            " JOIN devices d USING (device_id) WHERE a.hour > now() - interval '3 hours' AND d.zone_id IN ($zone)"
            " ORDER BY a.device_id, a.hour DESC) x",
            w=4, th=CAI_BANDS,
        ))
        .with_panel(stat_panel(
            "Buses in service",
            "SELECT count(DISTINCT device_id) AS buses FROM bus_positions WHERE time > now() - interval '5 minutes'",
            w=4,
        ))
        .with_panel(stat_panel(
            "Devices online",
            f"SELECT avg(CASE WHEN {ONLINE} THEN 1.0 ELSE 0.0 END) AS online FROM {HEALTH}"
            " WHERE d.registry_status = 'active' AND d.zone_id IN ($zone)",
            unit="percentunit", w=4, th=thresholds((None, "red"), (0.9, "yellow"), (0.98, "green")),
        ))
        .with_panel(stat_panel(
            "Dead letters (range)",
            "SELECT count(*) AS dead_letters FROM dead_letters WHERE $__timeFilter(received_at)",
            w=4, th=GREEN_RED,
        ))
        .with_panel(device_map(
            "Devices by state",
            f"SELECT r.device_id, r.kind, r.lat AS latitude, r.lon AS longitude,"
            f" CASE WHEN {ONLINE} THEN 1 ELSE 0 END AS online FROM devices r JOIN {HEALTH} USING (device_id)"
            " WHERE r.status = 'active' AND r.lat IS NOT NULL AND r.zone_id IN ($zone)",
            "online", w=12, h=12, th=thresholds((None, "red"), (1, "green")),
        ))
        .with_panel(gauges(
            "Parking: free spaces per lot",
            f"SELECT name AS lot, greatest(capacity - occupied, 0) AS available FROM ({LOT_SPACES}) x"
            " WHERE zone_id IN ($zone) ORDER BY name",
            w=12, h=12, th=thresholds((None, "red"), (3, "yellow"), (10, "green")),
        ))
        .with_panel(ts(
            "Messages written per minute",
            " UNION ALL ".join(
                f"SELECT $__timeGroupAlias(received_at, '1m'), '{t}' AS metric, count(*) AS messages FROM {t}"
                f" WHERE $__timeFilter(received_at) GROUP BY 1"
                for t in STREAMS
            ) + " ORDER BY 1",
            w=24,
        ))
    )  # fmt: skip


def air_quality() -> dashboard.Dashboard:
    station = variable(
        "station",
        "Station",
        "SELECT device_id FROM devices WHERE kind = 'aq' AND zone_id IN ($zone) ORDER BY 1",
    )
    b = (
        board(
            "citywatch-airquality",
            "Air quality",
            "CAI and pollutants per station; fine-dust advisories",
            time_from="now-2d",
        )
        .with_variable(ZONE)
        .with_variable(station)
        .annotation(
            dashboard.AnnotationQuery()
            .name("Advisories (주의보/경보)")
            .datasource(DATASOURCE)
            .enable(True)
            .icon_color("red")
        )
        .with_panel(
            ts(
                "CAI per station (hourly)",
                "SELECT hour AS time, device_id AS metric, cai FROM aq_hourly"
                " WHERE $__timeFilter(hour) AND device_id IN ($station) ORDER BY 1",
                w=24,
                desc="Comprehensive Air-quality Index: 0-50 good, 51-100 moderate, 101-250 unhealthy,"
                " 251+ very unhealthy",
                th=CAI_BANDS,
            )
        )
    )
    for pol, unit, steps in (
        ("pm25", "conμgm3", ((None, "blue"), (16, "green"), (36, "yellow"), (76, "red"))),
        ("pm10", "conμgm3", ((None, "blue"), (31, "green"), (81, "yellow"), (151, "red"))),
        ("o3", "ppm", ((None, "blue"), (0.031, "green"), (0.091, "yellow"), (0.151, "red"))),
        ("no2", "ppm", ((None, "blue"), (0.031, "green"), (0.061, "yellow"), (0.201, "red"))),
    ):
        b = b.with_panel(ts(
            f"{pol.upper()} per station",
            f"SELECT $__timeGroupAlias(time, $__interval), device_id AS metric, avg({pol}) AS {pol} FROM air_quality"
            f" WHERE $__timeFilter(time) AND device_id IN ($station) GROUP BY 1, 2 ORDER BY 1",
            unit=unit, w=12,
            th=thresholds(*steps),
        ))  # fmt: skip
    return (
        b.with_panel(device_map(
            "Stations (current CAI)",
            "SELECT d.device_id, d.lat AS latitude, d.lon AS longitude, a.cai, a.grade FROM devices d"
            " JOIN LATERAL (SELECT cai, grade FROM aq_hourly h WHERE h.device_id = d.device_id ORDER BY hour DESC LIMIT 1) a"
            " ON true WHERE d.kind = 'aq' AND d.zone_id IN ($zone)",
            "cai", th=CAI_BANDS,
        ))
        .with_panel(table_panel(
            "Advisories in the range",
            "SELECT opened_at AS issued, resolved_at AS lifted, subject AS area, title, peak,"
            f" {SEVERITY_NAME} AS severity, state FROM alerts WHERE rule LIKE 'aq.advisory.%'"
            " AND opened_at <= $__timeTo() AND coalesce(resolved_at, now()) >= $__timeFrom() ORDER BY opened_at DESC",
            w=12, h=10,
        ))
        .with_panel(table_panel(
            "Unusual for the station (learned) in the range",
            "SELECT last_seen AS seen, subject AS station, rule, state, explanation->>'message' AS why FROM alerts"
            " WHERE (rule LIKE 'aq.shape.%' OR rule IN ('aq.unusual', 'aq.multivariate'))"
            " AND subject IN ($station) AND last_seen >= $__timeFrom() AND opened_at <= $__timeTo()"
            " ORDER BY last_seen DESC LIMIT 200",
            w=24, h=8,
            desc="What each station's own history says is unusual: a pattern it has never shown (aq.shape), an hour"
            " far from its usual level for that hour (aq.unusual), an unusual pollutant mix (aq.multivariate)",
        ))
    )  # fmt: skip


ADVISORY_ANNOTATION_SQL = (
    "SELECT opened_at AS time, coalesce(resolved_at, now()) AS timeend, title AS text, rule AS tags"
    " FROM alerts WHERE rule LIKE 'aq.advisory.%' AND opened_at <= $__timeTo()"
    " AND coalesce(resolved_at, now()) >= $__timeFrom()"
)


def parking() -> dashboard.Dashboard:
    lot = variable("lot", "Lot", "SELECT lot_id FROM parking_lots WHERE zone_id IN ($zone) ORDER BY 1")
    local = f"time AT TIME ZONE ${{{CITY_TZ}:sqlstring}}"  # the city's local time
    hours = ", ".join(
        f'round(avg(occupied::int) FILTER (WHERE extract(hour FROM {local}) = {h})::numeric, 2) AS "{h:02d}"'
        for h in range(24)
    )
    return (
        board("citywatch-parking", "Parking", "Availability, occupancy by hour of week, faulty sensors", time_from="now-7d")
        .with_variable(ZONE)
        .with_variable(lot)
        .with_variable(city_tz())
        .with_panel(gauges(
            "Free spaces now",
            f"SELECT name AS lot, greatest(capacity - occupied, 0) AS available FROM ({LOT_SPACES}) x"
            " WHERE lot_id IN ($lot) ORDER BY name",
            w=8, h=8, th=thresholds((None, "red"), (3, "yellow"), (10, "green")),
        ))
        .with_panel(ts(
            "Occupancy per lot",
            "SELECT $__timeGroupAlias(time, $__interval), lot_id AS metric, avg(occupied::int) AS occupancy"
            " FROM parking_events WHERE $__timeFilter(time) AND lot_id IN ($lot) GROUP BY 1, 2 ORDER BY 1",
            unit="percentunit", w=16, h=8,
            desc="Share of sensor reports (changes and heartbeats) that say occupied, per interval",
        ))
        .with_panel(table_panel(
            "Occupancy by hour of week (the city's local time)",
            f"SELECT extract(isodow FROM {local})::int AS day, " + hours +
            " FROM parking_events WHERE $__timeFilter(time) AND lot_id IN ($lot) GROUP BY 1 ORDER BY 1",
            w=24, h=9, color_columns="^\\d\\d$",
            th=thresholds((None, "green"), (0.7, "yellow"), (0.9, "red")),
            desc="Rows: ISO day of week (1 = Monday); columns: hour; cells: share of reports that say occupied",
        ))
        .with_panel(table_panel(
            "Faulty space sensors and garage counters",
            f"SELECT coalesce(d.lot_id, a.subject) AS lot, d.device_id AS sensor, a.title, a.rule,"
            f" {SEVERITY_NAME} AS severity, a.state, a.opened_at, a.last_seen"
            " FROM alerts a LEFT JOIN devices d ON d.device_id = a.subject"
            " WHERE (a.rule IN ('parking.stuck', 'parking.flapping', 'parking.battery')"
            " OR a.rule LIKE 'parking.count_%') AND a.state <> 'resolved' ORDER BY a.opened_at DESC",
            w=24, h=8,
            desc="Stuck space sensors are one alert per lot (its title says how many); flapping and battery"
            " per sensor; a garage counter's faults (parking.count_*) per lot",
        ))
    )  # fmt: skip


def cctv() -> dashboard.Dashboard:
    return (
        board("citywatch-cctv", "CCTV analytics", "Video-analytics events and incidents")
        .with_variable(ZONE)
        .with_panel(ts(
            "Events by type",
            "SELECT $__timeGroupAlias(time, $__interval), event_type AS metric, count(*) AS events FROM cctv_events"
            " WHERE $__timeFilter(time) AND zone IN ($zone) GROUP BY 1, 2 ORDER BY 1",
            w=16,
        ))
        .with_panel(bars(
            "Events by zone",
            "SELECT zone, count(*) AS events FROM cctv_events WHERE $__timeFilter(time) AND zone IN ($zone)"
            " GROUP BY zone ORDER BY events DESC",
            w=8,
        ))
        .with_panel(table_panel(
            "Top cameras",
            "SELECT device_id AS camera, zone, count(*) AS events, max(time) AS last_event,"
            " round(avg(confidence)::numeric, 2) AS mean_confidence FROM cctv_events"
            " WHERE $__timeFilter(time) AND zone IN ($zone) GROUP BY 1, 2 ORDER BY events DESC LIMIT 10",
            w=12,
        ))
        .with_panel(table_panel(
            "CCTV alerts and incidents",
            f"SELECT opened_at, subject AS area, title, {SEVERITY_NAME} AS severity, state, count AS events,"
            " coalesce(array_to_string(ARRAY(SELECT jsonb_array_elements_text("
            "CASE jsonb_typeof(explanation->'details'->'cameras') WHEN 'array'"
            " THEN explanation->'details'->'cameras' END)), ', '), '') AS cameras,"
            " explanation->>'message' AS explanation FROM alerts WHERE rule LIKE 'cctv.%'"
            " AND $__timeFilter(opened_at) ORDER BY opened_at DESC",
            w=12, desc="A camera's alerts, and the zone incidents that group several cameras' events of one"
            " type (their cameras listed: put them on the wall screen)",
        ))
    )  # fmt: skip


def boarding() -> dashboard.Dashboard:
    route = variable(
        "route",
        "Route",
        "SELECT DISTINCT route_id FROM bus_positions WHERE time > now() - interval '7 days' ORDER BY 1",
    )
    return (
        board("citywatch-boarding", "Boarding bell", "Stop requests, delivery to drivers, no-stop passes")
        .with_variable(route)
        .with_panel(ts(
            "Stop requests per route",
            "SELECT $__timeGroupAlias(time, $__interval), route_id AS metric, count(*) AS requests FROM stop_requests"
            " WHERE $__timeFilter(time) AND action = 'request' AND route_id IN ($route) GROUP BY 1, 2 ORDER BY 1",
            w=12,
        ))
        .with_panel(ts(
            "Request → driver acknowledgement",
            "SELECT $__timeGroupAlias(a.time, $__interval),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.time - r.requested_at)) AS p50,"
            " percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM a.time - r.requested_at)) AS p95"
            " FROM driver_acks a CROSS JOIN LATERAL unnest(a.request_ids) AS rid"
            " JOIN bell_requests r ON r.request_id = rid WHERE $__timeFilter(a.time) AND r.route_id IN ($route)"
            " GROUP BY 1 ORDER BY 1",
            unit="s", w=12, desc="From the passenger's request to the driver's acknowledgement on the terminal",
        ))
        .with_panel(bars(
            "No-stop passes per route",
            "SELECT route_id AS route, count(*) FILTER (WHERE NOT served) AS passed,"
            " count(*) FILTER (WHERE served) AS served FROM bell_passes WHERE $__timeFilter(time)"
            " AND route_id IN ($route) GROUP BY 1 ORDER BY 1",
            w=12,
        ))
        .with_panel(table_panel(
            "No-stop passes per bus",
            "SELECT bus_id AS bus, route_id AS route, count(*) AS passes, max(time) AS last_pass,"
            " string_agg(DISTINCT stop_id, ', ') AS stops FROM bell_passes WHERE NOT served"
            " AND $__timeFilter(time) AND route_id IN ($route) GROUP BY 1, 2 ORDER BY passes DESC",
            w=12,
        ))
        .with_panel(table_panel(
            "Open requests",
            "SELECT requested_at, stop_id AS stop, route_id AS route, passengers, wheelchair, status,"
            " bus_id AS bus, round(eta_s) AS eta_s FROM bell_requests"
            " WHERE status IN ('pending', 'assigned', 'no_bus') AND route_id IN ($route) ORDER BY requested_at",
            w=24,
        ))
    )  # fmt: skip


DASHBOARDS: dict[str, Callable[[], dashboard.Dashboard]] = {
    "overview": overview,
    "air-quality": air_quality,
    "parking": parking,
    "cctv": cctv,
    "boarding": boarding,
    "alerts": alerts,
    "platform": platform,
}

#: annotations whose SQL the SDK's annotation builder cannot hold (set on the JSON)
ANNOTATION_SQL: dict[str, dict[str, str]] = {
    "air-quality": {"Advisories (주의보/경보)": ADVISORY_ANNOTATION_SQL}
}
