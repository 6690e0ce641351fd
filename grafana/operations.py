"""The control room's own dashboards, as code: alert handling (what is open, the alarm load, response
times, maintenance) and the platform's health (ingest, devices, notifications, the services)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from alerts.maintenance import UNTIL
from alerts.queries import ANNOUNCED_SEVERITY, ANNUNCIATION
from grafana.panels import (
    GREEN_RED,
    HEALTH,
    ONLINE,
    SEVERITY_NAME,
    board,
    stat_panel,
    table_panel,
    thresholds,
    ts,
    variable,
)

#: a sink's name as shown: webhook URLs without path and query (where gateways put their tokens)
SINK_SHOWN = (
    "CASE WHEN c.sink LIKE 'webhook:%://%' THEN 'webhook:' || substring(c.sink from '^webhook:([a-z]+://)')"
    " || coalesce(substring(c.sink from '^webhook:[a-z]+://(?:[^/?#@]*@)?([^/?#@]+)'), '')"
    " || CASE WHEN c.sink ~ '^webhook:[a-z]+://[^/?#]+(/.+|[?#].*)$' THEN '/…' ELSE '' END ELSE c.sink END"
)
#: every stream table with the time ingest received each row
STREAMS = ("air_quality", "parking_events", "cctv_events", "bus_positions", "stop_requests", "driver_acks")


def alerts() -> dashboard.Dashboard:
    kind = variable("kind", "Kind", "SELECT DISTINCT kind FROM alerts ORDER BY 1")
    return (
        board("citywatch-alerts", "Alerts", "Open alerts with their explanation; response times", time_from="now-7d")
        .with_variable(kind)
        .with_panel(stat_panel(
            "MTTA (opened in range)",
            "SELECT avg(extract(epoch FROM acknowledged_at - opened_at)) AS mtta FROM alerts"
            " WHERE $__timeFilter(opened_at) AND kind IN ($kind)",
            unit="s", w=6,
        ))
        .with_panel(stat_panel(
            "MTTR (opened in range)",
            "SELECT avg(extract(epoch FROM resolved_at - opened_at)) AS mttr FROM alerts"
            " WHERE $__timeFilter(opened_at) AND kind IN ($kind)",
            unit="s", w=6,
        ))
        .with_panel(stat_panel(
            "Escalated, still open",
            "SELECT count(*) AS escalated FROM alerts WHERE escalated_at IS NOT NULL AND state = 'open'"
            " AND kind IN ($kind)",
            w=6, th=GREEN_RED,
        ))
        .with_panel(stat_panel(
            "Opened in range",
            "SELECT count(*) AS opened FROM alerts WHERE $__timeFilter(opened_at) AND kind IN ($kind)",
            w=6,
        ))
        .with_panel(table_panel(
            "Open alerts",
            f"SELECT id, {SEVERITY_NAME} AS severity, state, kind, rule, subject, title,"
            " explanation->>'message' AS explanation, opened_at, last_seen, count, assignee,"
            " muted_by AS muted_by_maintenance FROM alerts"
            " WHERE state <> 'resolved' AND kind IN ($kind) ORDER BY severity DESC, opened_at DESC",
            h=12,
        ))
        .with_panel(table_panel(
            "Maintenance windows (current and coming)",
            "SELECT m.id, m.subject, coalesce(m.rule_prefix, 'all rules') AS rules, m.starts_at AS from,"
            f" {UNTIL} AS until, m.reason, m.created_by AS by,"
            " (SELECT count(*) FROM alerts a WHERE a.muted_by = m.id AND a.state <> 'resolved') AS muted_alerts"
            f" FROM maintenance m WHERE {UNTIL} > now()"
            " ORDER BY m.starts_at",
            h=6, desc="Devices and zones under maintenance: their alerts are recorded but notify nobody and do not"
            " escalate until the window ends",
        ))
        .with_panel(ts(
            "Alerts opened",
            f"SELECT $__timeGroupAlias(opened_at, $__interval), {SEVERITY_NAME} AS metric, count(*) AS alerts"
            " FROM alerts WHERE $__timeFilter(opened_at) AND kind IN ($kind) GROUP BY 1, 2 ORDER BY 1",
            w=24,
        ))
        .with_panel(ts(
            "Alarm load: annunciations per 10 minutes",
            "SELECT $__timeGroupAlias(a.at, '10m'), count(*) AS annunciations,"
            f" count(*) FILTER (WHERE {ANNOUNCED_SEVERITY} >= 2) AS \"warning or worse\" FROM alert_audit a"
            f" JOIN alerts al ON al.id = a.alert_id WHERE $__timeFilter(a.at) AND {ANNUNCIATION}"
            " AND al.kind IN ($kind) GROUP BY 1 ORDER BY 1",
            w=16, th=thresholds((None, "green"), (2, "yellow"), (11, "red")),
            desc="Alerts opening or re-opening, not muted by maintenance: what made an operator look. ISA-18.2 /"
            " EEMUA 191: about 1 per 10 minutes is very likely acceptable, 2 the most manageable (yellow above);"
            " more than 10 is a flood (red). 'Warning or worse' leaves out the information that asks no action"
            " (ISA-18.2's alarms). The same figures, with floods and chattering alerts: GET"
            " /api/v1/alerts/load (min_severity=warning for the alarms alone) and the shift report",
        ))
        .with_panel(table_panel(
            "Most frequent alerts (tune these first)",
            "SELECT al.rule, al.subject, count(*) AS annunciations,"
            " round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS share_pct FROM alert_audit a"
            f" JOIN alerts al ON al.id = a.alert_id WHERE $__timeFilter(a.at) AND {ANNUNCIATION}"
            " AND al.kind IN ($kind) GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 10",
            w=8, h=8, desc="The 10 rule + subject pairs that reached the operators most often in the range (ISA-18.2"
            " aims for the top 10 under 1-5 % of the whole): a chattering sensor or a threshold set too tight",
        ))
    )  # fmt: skip


def platform() -> dashboard.Dashboard:
    return (
        board(
            "citywatch-platform", "Platform health", "Ingest throughput, dead letters, sequence gaps, lag",
            time_from="now-6h",
        )
        .with_panel(ts(
            "Messages per second",
            " UNION ALL ".join(
                f"SELECT $__timeGroupAlias(received_at, '1m'), '{t}' AS metric, count(*) / 60.0 AS rate FROM {t}"
                f" WHERE $__timeFilter(received_at) GROUP BY 1"
                for t in STREAMS
            ) + " ORDER BY 1",
            unit="reqps", w=12,
        ))
        .with_panel(ts(
            "Dead letters by reason",
            "SELECT $__timeGroupAlias(received_at, $__interval), reason AS metric, count(*) AS dead_letters"
            " FROM dead_letters WHERE $__timeFilter(received_at) GROUP BY 1, 2 ORDER BY 1",
            w=12,
        ))
        .with_panel(ts(
            "Device → database lag (air quality)",
            "SELECT $__timeGroupAlias(received_at, $__interval),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - time)) AS p50,"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - time)) AS p99"
            " FROM air_quality WHERE $__timeFilter(received_at) GROUP BY 1 ORDER BY 1",
            unit="s", w=12, desc="Device timestamp to ingest's receive time; batch latency itself is the"
            " Prometheus metric citywatch_ingest_batch_seconds",
        ))
        .with_panel(stat_panel(
            "Device online ratio",
            f"SELECT avg(CASE WHEN {ONLINE} THEN 1.0 ELSE 0.0 END) AS online FROM {HEALTH}"
            " WHERE d.registry_status = 'active'",
            unit="percentunit", w=6, h=8, th=thresholds((None, "red"), (0.9, "yellow"), (0.98, "green")),
        ))
        .with_panel(stat_panel(
            "Ingest totals",
            "SELECT sum(received) AS received, sum(written) AS written, sum(duplicates) AS duplicates,"
            " sum(dead_lettered) AS dead_lettered FROM ingest_counters",
            w=6, h=8,
        ))
        .with_panel(table_panel(
            "Zone outages in the range",
            "SELECT opened_at AS since, subject AS zone, (explanation->>'observed')::float8::int AS devices_offline,"
            " (explanation->>'baseline')::float8::int AS of_devices, state, resolved_at AS back,"
            " explanation->>'message' AS explanation FROM alerts"
            " WHERE rule = 'zone.outage' AND (state <> 'resolved' OR $__timeFilter(opened_at))"
            " ORDER BY opened_at DESC LIMIT 50",
            w=24, h=6, desc="Many devices of a zone silent together (a power cut, a broken backhaul): one alert per"
            " zone instead of one per device",
        ))
        .with_panel(table_panel(
            "Notification sinks",
            f"SELECT {SINK_SHOWN} AS sink, w.waiting, w.oldest_waiting_s, c.held AS held_back, c.held_since,"
            " (SELECT d.last_error FROM alert_deliveries d WHERE d.sink = c.sink AND d.delivered_at IS NULL"
            "  ORDER BY d.outbox_id LIMIT 1) AS last_error, c.updated_at AS served_at"
            " FROM outbox_cursors c CROSS JOIN LATERAL (SELECT count(*) AS waiting,"
            "  extract(epoch FROM now() - min(o.created_at)) AS oldest_waiting_s FROM alert_outbox o"
            "  WHERE o.id >= c.next_id AND o.muted_by IS NULL AND NOT EXISTS (SELECT 1 FROM alert_deliveries d"
            "   WHERE d.outbox_id = o.id AND d.sink = c.sink AND d.delivered_at IS NOT NULL)) w"
            " ORDER BY w.oldest_waiting_s DESC NULLS LAST, 1",
            w=24, h=6, desc="Where alert notifications go (the MQTT topic, each SMS/e-mail gateway webhook): what each"
            " has not taken yet and since when, its last error, what its hourly cap holds back. One not taking"
            " notifications for 5 min is a platform.notifications alert",
        ))
        .with_panel(table_panel(
            "Sequence gaps per device",
            "SELECT device_id, stream, received, gaps, resets, jumps,"
            " round(100.0 * gaps / nullif(received + gaps, 0), 2) AS loss_pct, last_received_at FROM device_streams"
            " WHERE gaps > 0 OR resets > 0 OR jumps > 0 ORDER BY gaps DESC LIMIT 50",
            w=12,
        ))
        .with_panel(table_panel(
            "Ingest workers",
            "SELECT worker, received, written, duplicates, dead_lettered, batches, updated_at FROM ingest_counters"
            " ORDER BY worker",
            w=12,
        ))
    )  # fmt: skip
