"""Small helpers over the Grafana Foundation SDK builders: every panel queries the citywatch
TimescaleDB datasource with one SQL target, sized on a 24-column grid."""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, bargauge, dashboard, geomap, stat, table, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm

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


def ts(
    title: str, sql: str, *, unit: str = "short", w: int = 12, h: int = 8, desc: str = "", th: Th = None
) -> Panel:
    """A time series: SQL in ``time_series`` format (time, [metric], value...); ``th`` are drawn as bands."""
    p = (
        timeseries.Panel()
        .title(title)
        .description(desc)
        .datasource(DATASOURCE)
        .with_target(Sql(sql, "time_series"))
        .unit(unit)
        .span(w)
        .height(h)
    )
    if th:
        p = p.thresholds(th).thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.AREA)
        )
    return p


def stat_panel(
    title: str, sql: str, *, unit: str = "short", w: int = 6, h: int = 4, th: Th = None, desc: str = ""
) -> Panel:
    p = (
        stat.Panel()
        .title(title)
        .description(desc)
        .datasource(DATASOURCE)
        .with_target(Sql(sql, "table"))
        .unit(unit)
        .span(w)
        .height(h)
    )
    return p.thresholds(th) if th else p


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
    p = table.Panel().title(title).description(desc).datasource(DATASOURCE).with_target(Sql(sql, "table"))
    p = p.span(w).height(h)
    if th:
        p = p.thresholds(th)
    if color_columns:
        p = p.override_by_regexp(
            color_columns,
            [dm.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"})],
        )
    return p


def bars(title: str, sql: str, *, unit: str = "short", w: int = 12, h: int = 8, desc: str = "") -> Panel:
    return (
        barchart.Panel()
        .title(title)
        .description(desc)
        .datasource(DATASOURCE)
        .with_target(Sql(sql, "table"))
        .unit(unit)
        .span(w)
        .height(h)
    )


def gauges(
    title: str, sql: str, *, unit: str = "short", w: int = 12, h: int = 8, th: Th = None, desc: str = ""
) -> Panel:
    p = (
        bargauge.Panel()
        .title(title)
        .description(desc)
        .datasource(DATASOURCE)
        .with_target(Sql(sql, "table"))
        .unit(unit)
        .span(w)
        .height(h)
    )
    return p.thresholds(th) if th else p


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
    p = (
        geomap.Panel()
        .title(title)
        .description(desc)
        .datasource(DATASOURCE)
        .with_target(Sql(sql, "table"))
        .view(geomap.MapViewConfig().id("coords").lat(37).lon(127).zoom(11))
        .layers([layer])
        .span(w)
        .height(h)
    )
    return p.thresholds(th) if th else p


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
