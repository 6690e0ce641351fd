"""Small helpers over the Grafana Foundation SDK builders: every panel queries the citywatch
TimescaleDB datasource with one SQL target, sized on a 24-column grid."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import barchart, bargauge, dashboard, geomap, stat, table, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm

from citywatch import localtime
from grafana.sql import DATASOURCE, Format, Sql

Panel = cogbuilder.Builder[dm.Panel]


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    return (
        dashboard.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=v, color=c) for v, c in steps])
    )


Th = dashboard.ThresholdsConfig | None
GREEN_RED = thresholds((None, "green"), (1, "red"))


def _sql_panel(
    builder: Any, title: str, sql: str, fmt: Format, *, unit: str | None, w: int, h: int, desc: str, th: Th
) -> Any:
    """What every panel has: title, description, the datasource, one SQL target, size, unit, thresholds."""
    p = (
        builder.title(title)
        .description(desc)
        .datasource(DATASOURCE)
        .with_target(Sql(sql, fmt))
        .span(w)
        .height(h)
    )
    if unit:
        p = p.unit(unit)
    return p.thresholds(th) if th else p


def ts(
    title: str, sql: str, *, unit: str = "short", w: int = 12, h: int = 8, desc: str = "", th: Th = None
) -> Panel:
    """A time series: SQL in ``time_series`` format (time, [metric], value...); ``th`` are drawn as bands."""
    p = _sql_panel(timeseries.Panel(), title, sql, "time_series", unit=unit, w=w, h=h, desc=desc, th=th)
    if th:
        p = p.thresholds_style(cb.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.AREA))
    return p  # type: ignore[no-any-return]


def stat_panel(
    title: str, sql: str, *, unit: str = "short", w: int = 6, h: int = 4, th: Th = None, desc: str = ""
) -> Panel:
    return _sql_panel(stat.Panel(), title, sql, "table", unit=unit, w=w, h=h, desc=desc, th=th)  # type: ignore[no-any-return]


def table_panel(
    title: str,
    sql: str,
    *,
    w: int = 24,
    h: int = 8,
    desc: str = "",
    color_columns: str | None = None,
    th: Th = None,
) -> Panel:
    p = _sql_panel(table.Panel(), title, sql, "table", unit=None, w=w, h=h, desc=desc, th=th)
    if color_columns:
        p = p.override_by_regexp(
            color_columns,
            [dm.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"})],
        )
    return p  # type: ignore[no-any-return]


def bars(title: str, sql: str, *, unit: str = "short", w: int = 12, h: int = 8, desc: str = "") -> Panel:
    return _sql_panel(barchart.Panel(), title, sql, "table", unit=unit, w=w, h=h, desc=desc, th=None)  # type: ignore[no-any-return]


def gauges(
    title: str, sql: str, *, unit: str = "short", w: int = 12, h: int = 8, th: Th = None, desc: str = ""
) -> Panel:
    return _sql_panel(bargauge.Panel(), title, sql, "table", unit=unit, w=w, h=h, desc=desc, th=th)  # type: ignore[no-any-return]


def device_map(
    title: str, sql: str, color_field: str, *, w: int = 12, h: int = 10, th: Th = None, desc: str = ""
) -> Panel:
    """A geomap of markers at ``latitude``/``longitude``, coloured by ``color_field``."""
    layer = (
        cb.MapLayerOptions()
        .type("markers")
        .name("devices")
        .config(
            {
                "showLegend": True,
                "style": {
                    "color": {"field": color_field, "fixed": "green"},
                    "size": {"fixed": 6},
                    "opacity": 0.8,
                },
            }
        )
        .location(
            cb.FrameGeometrySource()
            .mode(common.FrameGeometrySourceMode.COORDS)
            .latitude("latitude")
            .longitude("longitude")
        )
    )
    p = _sql_panel(geomap.Panel(), title, sql, "table", unit=None, w=w, h=h, desc=desc, th=th)
    return p.view(geomap.MapViewConfig().id("coords").lat(37).lon(127).zoom(11)).layers([layer])  # type: ignore[no-any-return]


def variable(name: str, label: str, sql: str) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(" ".join(sql.split()))
        .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD)
        .multi(True)
        .include_all(True)
        .current(dm.VariableOption(selected=True, text="All", value="$__all"))
    )


__all__ = [
    "Format",
    "Panel",
    "bars",
    "device_map",
    "gauges",
    "stat_panel",
    "table_panel",
    "thresholds",
    "ts",
    "variable",
]


# -- what every dashboard shares --------------------------------------------------------------------
FOLDER = "citywatch"
TAGS = ["citywatch"]

ZONE = variable("zone", "Zone", "SELECT zone_id FROM zones ORDER BY 1")
#: the city's time zone, a hidden constant of the boards with local hours (``${city_tz:sqlstring}`` in their SQL);
#: written with the default, set to the city's (``CITYWATCH_TIMEZONE``) by ``citywatch grafana push``
CITY_TZ = "city_tz"


def city_tz(tz: str = localtime.DEFAULT) -> dashboard.ConstantVariable:
    return dashboard.ConstantVariable(CITY_TZ).value(tz)


def set_city_tz(board_json: dict[str, Any], tz: str) -> None:
    """Give a rendered board's ``city_tz`` constant the city's time zone."""
    for v in board_json.get("templating", {}).get("list", []):
        if v.get("name") == CITY_TZ:
            v["query"] = tz
            v["current"] = {"selected": True, "text": tz, "value": tz}
            v["options"] = [{"selected": True, "text": tz, "value": tz}]


SEVERITY_NAME = "CASE severity WHEN 3 THEN 'critical' WHEN 2 THEN 'warning' ELSE 'info' END"
#: every device as the platform judges it (online, offline, never_seen, retired: the database's
#: device_health(), which the analytics and the API read too; Last Will respected)
HEALTH = "device_health() d"
ONLINE = "d.state = 'online'"


def board(
    uid: str, title: str, desc: str, refresh: str = "30s", time_from: str = "now-24h"
) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(desc)
        .tags(TAGS)
        .timezone("browser")
        .refresh(refresh)
        .time(time_from, "now")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
    )
