"""Dashboards as code: the committed JSON is what the code generates; every datasource reference is
provisioned; every panel's SQL (macros and template variables expanded as Grafana does) runs on the
real TimescaleDB, on simulator data, and returns rows of the shape its panel expects."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from alerts import store
from alerts.model import Acknowledge, Resolve, Severity
from analytics.service import AnalyticsService
from boarding.service import BoardingService
from citywatch.settings import DatabaseSettings, Settings
from grafana import macros
from grafana.build import OUT, render, text
from grafana.dashboards import DASHBOARDS
from simulators.gtfs import write_feed
from simulators.publisher import Publisher
from simulators.run import SimulateOptions, run_simulation
from tests.support import SECRET, SMALL, IngestThread, as_role, module_platform, request, wait_for
from tools.localservices import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
_n = itertools.count()


@pytest.mark.parametrize("name", list(DASHBOARDS))
def test_committed_json_is_what_the_code_generates(name: str) -> None:
    committed = OUT / f"{name}.json"
    assert committed.exists(), f"run `citywatch grafana build`: {committed} is missing"
    assert committed.read_text() == text(name), f"{committed} drifted from grafana/dashboards.py: rebuild it"


def _refs(obj: Any) -> Iterator[dict[str, Any]]:
    if isinstance(obj, dict):
        if isinstance(obj.get("datasource"), dict):
            yield obj["datasource"]
        for v in obj.values():
            yield from _refs(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _refs(v)


def test_every_datasource_reference_is_provisioned() -> None:
    prov = yaml.safe_load((ROOT / "grafana/provisioning/datasources/citywatch.yaml").read_text())
    provisioned = {(d["type"], d["uid"]) for d in prov["datasources"]}
    assert prov["datasources"][0]["jsonData"]["timescaledb"] is True
    for name in DASHBOARDS:
        refs = list(_refs(render(name)))
        assert refs
        for ref in refs:
            assert (ref["type"], ref["uid"]) in provisioned, (name, ref)
    dash_prov = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/citywatch.yaml").read_text())
    assert dash_prov["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in mounts


def test_dashboards_use_time_macros_and_variables() -> None:
    for name in DASHBOARDS:
        d = render(name)
        sqls = [t["rawSql"] for p in d["panels"] for t in p.get("targets", [])]
        assert len({p["title"] for p in d["panels"]}) == len(d["panels"]), f"{name}: titles repeat"
        timed = [s for s in sqls if "$__time" in s]
        assert timed, f"{name}: no panel follows the time range"
        queries = sqls + [
            v["query"] for v in d["templating"].get("list", [])
        ]  # a variable may narrow another
        for var in d["templating"].get("list", []):
            used = (f"${var['name']}", f"${{{var['name']}")
            assert any(u in s for s in queries for u in used), f"{name}: variable {var['name']} unused"


def test_macro_expansion() -> None:
    t0, t1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    sql = "SELECT $__timeGroupAlias(time, '5m'), x FROM t WHERE $__timeFilter(time) AND z IN ($zone) AND b > $__timeFrom() GROUP BY $__timeGroup(time, $__interval)"
    out = macros.expand(sql, t0, t1, 60, {"zone": ["a", "o'b"]})
    assert "time_bucket('300s', time) AS \"time\"" in out
    assert "time BETWEEN '2026-01-01T00:00:00+00:00' AND '2026-01-02T00:00:00+00:00'" in out
    assert "IN ('a','o''b')" in out and "time_bucket('60s', time)" in out
    with pytest.raises(ValueError, match="unexpanded"):
        macros.expand("SELECT $nope", t0, t1, 60, {})


# -- every panel on simulator data ----------------------------------------------------------------
@pytest.fixture(scope="module")
def city_db(pg: PostgresServer, workdir: Path) -> Iterator[str]:
    """Six hours of the small city (with faults and bus drivers) through MQTT, ingest and the bell,
    then the analytics over the range; each service connected as its own database role."""
    p = module_platform(pg, workdir)
    url, mq, city = p.db_url, p.broker, p.city
    settings = p.settings()
    settings.boarding.gtfs = write_feed(city, workdir / f"gtfs-{next(_n)}.zip")

    def as_service(service: str) -> Settings:
        return settings.model_copy(update={"db": DatabaseSettings(url=as_role(url, service))})

    bell = BoardingService(as_service("boarding"), client_id=f"boarding-{uuid.uuid4().hex[:6]}")
    bt = threading.Thread(target=bell.run, daemon=True)
    bt.start()
    assert bell.connected.wait(10)
    try:
        with IngestThread(as_service("ingest")) as service:
            opts = SimulateOptions(
                seed=7, scale=SMALL, speed=float("inf"), backfill_days=0.25, duration_s=0.25 * 86400,
                faults_per_kind=1, mode="gateway", register=False, drivers=True, pass_rate=0.3,
            )  # fmt: skip
            pub = run_simulation(settings, opts)
            sent = sum(pub.sent.values())  # data, malformed, duplicates, status
            # a passenger waiting now, whatever the simulated hours left open: the open-requests panel's row
            route = city.routes[0]
            panel = Publisher(host="127.0.0.1", port=mq.port, secret=SECRET, mode="gateway")
            panel.open([])
            waiting = request(panel, f"stop-{route.stops[1][3:]}", route.stops[1], route.route_id)
            panel.close()
            # every message taken from the broker (leaving the block commits what ingest still holds)
            assert wait_for(lambda: service.inbound >= sent + 1, 120), (service.inbound, dict(pub.sent))
            with psycopg.connect(url, autocommit=True) as conn:
                assert wait_for(
                    lambda: conn.execute(
                        "SELECT 1 FROM bell_requests WHERE request_id = %s AND status IN ('pending', 'assigned', 'no_bus')",
                        (waiting,),
                    ).fetchone(),
                    10,
                ), waiting
        end = datetime.now(UTC)
        AnalyticsService(as_service("analytics")).evaluate_range(end - timedelta(hours=6), end)
        with psycopg.connect(
            url, autocommit=True
        ) as conn:  # an operator at work: two acknowledged, one resolved
            ids = [
                r[0] for r in conn.execute("SELECT id FROM alerts WHERE state = 'open' ORDER BY id LIMIT 2")
            ]
            assert ids, "the simulated faults raised no alert"
            for i in ids:
                store.apply(conn, Acknowledge("operator"), datetime.now(UTC), alert_id=i)
            store.apply(conn, Resolve("operator", "fixed"), datetime.now(UTC), alert_id=ids[0])
    finally:
        bell.stop()
        bt.join(10)
        mq.stop()
    yield url


#: panels over data that six simulated hours do not always produce
MAY_BE_EMPTY = {
    "Advisories in the range",  # needs a pollution episode over the national thresholds
    "Faulty space sensors and garage counters",  # a stuck sensor needs a day to be stuck
    "Request → driver acknowledgement",  # a full-speed backfill has bell requests and passes but no driver acks
    "Unusual for the station (learned) in the range",  # the learned rules need days of history: the next test
    "Maintenance windows (current and coming)",  # an operator's act: see the maintenance test below
    "Zone outages in the range",  # a whole zone going dark: see the outage test below
    "Notification sinks",  # a dispatcher serving sinks: see the sinks test below
}


def _check_shape(
    panel: dict[str, Any], fmt: str, cols: list[str], types: list[int], rows: list[tuple[Any, ...]]
) -> None:
    title = panel["title"]
    numeric = {20, 21, 23, 700, 701, 1700}  # int8, int2, int4, float4, float8, numeric
    if fmt == "time_series":
        assert cols[0] == "time" and types[0] in (1184, 1114), f"{title}: the first column must be the time"
        values = [c for c, t in zip(cols[1:], types[1:], strict=True) if t in numeric]
        assert values, f"{title}: no numeric column"
        assert all(rows[i][0] <= rows[i + 1][0] for i in range(len(rows) - 1)), f"{title}: not in time order"
    elif panel["type"] == "geomap":
        assert {"latitude", "longitude"} <= set(cols), f"{title}: a map needs latitude and longitude"
    elif panel["type"] in ("stat", "bargauge", "barchart"):
        assert any(t in numeric for t in types), f"{title}: nothing numeric to show"
        if panel["type"] == "stat":
            assert len(rows) <= 1, f"{title}: a stat shows one row"
    assert len(set(cols)) == len(cols), f"{title}: repeated column names"


@pytest.mark.parametrize("name", list(DASHBOARDS))
def test_every_panel_query_returns_the_shape_its_panel_expects(city_db: str, name: str) -> None:
    d = render(name)
    end = datetime.now(UTC) + timedelta(minutes=1)
    start = end - timedelta(hours=7)
    with psycopg.connect(as_role(city_db, "grafana"), autocommit=True) as conn:  # Grafana's read-only role
        variables: dict[str, list[str]] = {}
        for var in d["templating"].get("list", []):  # variables in order: later ones may use earlier ones
            if var["type"] == "constant":  # its value is its query (the city's time zone)
                variables[var["name"]] = [var["query"]]
                continue
            sql = macros.expand(var["query"], start, end, 60, variables)
            values = [str(r[0]) for r in conn.execute(sql).fetchall()]  # type: ignore[arg-type]
            assert values, f"{name}: variable {var['name']} has no values"
            variables[var["name"]] = values  # "All"
        for anno in d.get("annotations", {}).get("list", []):
            if "target" in anno:
                cur = conn.execute(macros.expand(anno["target"]["rawSql"], start, end, 60, variables))  # type: ignore[arg-type]
                assert [c.name for c in cur.description or []][:3] == ["time", "timeend", "text"]
        for panel in d["panels"]:
            for target in panel["targets"]:
                sql = macros.expand(target["rawSql"], start, end, 60, variables)
                cur = conn.execute(sql)  # type: ignore[arg-type]
                rows = cur.fetchall()
                cols = [c.name for c in cur.description or []]
                types = [c.type_code for c in cur.description or []]
                if panel["title"] not in MAY_BE_EMPTY:
                    assert rows and any(v is not None for v in rows[0]), (
                        f"{name}: {panel['title']!r} returned nothing"
                    )
                _check_shape(panel, target["format"], cols, types, rows)


def test_the_learned_anomalies_panel_lists_a_station_s_unusual_pattern(db_url: str) -> None:
    """Six simulated hours teach the learned rules nothing; an aq.shape alert as the analytics service
    raises it shows in the air-quality board's panel, with its explanation."""
    from alerts.model import Explanation, Raise, Severity

    now = datetime.now(UTC)
    why = Explanation(
        rule="aq.shape.no2", observed=0.05, message="NO2 0.05 ppm: a 40-hour pattern never seen"
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        store.apply(
            conn, Raise("aq.shape.no2", "aq-7", "aq", Severity.INFO, "Unusual NO2 pattern: aq-7", why), now
        )
        store.apply(
            conn,
            Raise("cctv.fire", "cam-1", "cctv", Severity.CRITICAL, "Fire", Explanation("cctv.fire")),
            now,
        )
        panel = next(
            p for p in render("air-quality")["panels"] if p["title"].startswith("Unusual for the station")
        )
        sql = macros.expand(
            panel["targets"][0]["rawSql"], now - timedelta(hours=1), now + timedelta(minutes=1), 60,
            {"station": ["aq-7", "aq-8"]},
        )  # fmt: skip
        rows = conn.execute(sql).fetchall()  # type: ignore[arg-type]
    assert [(r[1], r[2], r[3]) for r in rows] == [("aq-7", "aq.shape.no2", "open")]
    assert "never seen" in rows[0][4]


def test_the_maintenance_panel_lists_current_windows_with_their_muted_alerts(db_url: str) -> None:
    from alerts.model import Explanation, Raise, Severity

    now = datetime.now(UTC)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO maintenance (subject, starts_at, ends_at, reason, created_by) VALUES"
            " ('aq-7', now() - interval '5 minutes', now() + interval '1 hour', 'sensor swap', 'operator'),"
            " ('aq-8', now() - interval '2 hours', now() - interval '1 hour', 'done', 'operator')"
        )
        store.apply(
            conn, Raise("aq.stuck", "aq-7", "aq", Severity.WARNING, "stuck", Explanation("aq.stuck")), now
        )
        panel = next(p for p in render("alerts")["panels"] if p["title"].startswith("Maintenance windows"))
        sql = macros.expand(
            panel["targets"][0]["rawSql"], now - timedelta(hours=1), now, 60, {"kind": ["aq"]}
        )
        rows = conn.execute(sql).fetchall()  # type: ignore[arg-type]
    assert [(r[1], r[2], r[5], r[7]) for r in rows] == [("aq-7", "all rules", "sensor swap", 1)]


def test_the_zone_outage_panel_lists_a_zone_that_went_dark(db_url: str) -> None:
    from analytics.outage import Device, OutageConfig, outages

    now = datetime.now(UTC)
    devices = [
        Device(f"aq-{i}", "aq", "jangan", True, now - timedelta(minutes=3) if i < 5 else None)
        for i in range(8)
    ]
    (o,) = outages(devices, set(), OutageConfig()).values()
    with psycopg.connect(db_url, autocommit=True) as conn:
        store.apply(conn, o.event(Severity.CRITICAL), now)
        panel = next(p for p in render("platform")["panels"] if p["title"] == "Zone outages in the range")
        sql = macros.expand(panel["targets"][0]["rawSql"], now - timedelta(hours=6), now, 60, {})
        rows = conn.execute(sql).fetchall()  # type: ignore[arg-type]
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [("zone:jangan", 5, 8, "open")]
    assert "power or network outage" in rows[0][6]


def test_the_cctv_panel_lists_the_cameras_an_incident_grouped(db_url: str) -> None:
    from analytics.cctv import CctvEvent, CctvRules

    now = datetime.now(UTC)
    rules = CctvRules()
    events = []
    for i, cam in enumerate(["cam-3", "cam-1", "cam-2"]):
        events += rules.on_event(
            CctvEvent(cam, now - timedelta(minutes=5 - i), "fight", 0.9, "jangan", "market")
        )
    with psycopg.connect(db_url, autocommit=True) as conn:
        for key, ev, at in events:
            store.apply(conn, ev, at, key=key)
        panel = next(p for p in render("cctv")["panels"] if p["title"] == "CCTV alerts and incidents")
        sql = macros.expand(panel["targets"][0]["rawSql"], now - timedelta(hours=6), now, 60, {})
        rows = {r[1]: r for r in conn.execute(sql).fetchall()}  # type: ignore[arg-type]
    assert set(rows) == {"cam-3", "zone:jangan"}  # the first camera's alert, and the incident
    assert rows["zone:jangan"][6] == "cam-1, cam-2, cam-3" and rows["cam-3"][6] == ""


def test_the_sinks_panel_shows_what_each_sink_has_not_taken_without_the_tokens(db_url: str) -> None:
    from alerts import outbox
    from alerts.model import Explanation, Raise, Severity
    from alerts.routing import shown

    names = [
        "mqtt",
        "webhook:https://sms.example/hook?token=s3cret",
        "webhook:https://user:pa55@mail.example:8443/send",
        "webhook:http://gw.example:8080/",
    ]
    now = datetime.now(UTC)
    with psycopg.connect(db_url, autocommit=True) as conn:
        for n in names:
            outbox.cursor(conn, n)  # each sink met: it starts with the last 10 minutes
        store.apply(
            conn,
            Raise("cctv.fire", "cam-1", "cctv", Severity.CRITICAL, "Fire", Explanation("cctv.fire")),
            now,
        )

        def refuse(kind: str, body: bytes) -> None:
            raise ConnectionRefusedError("gateway down")

        outbox.drain(conn, names[1], refuse)  # the SMS gateway fails it
        outbox.drain(conn, "mqtt", lambda kind, body: None)  # the broker takes it
        panel = next(p for p in render("platform")["panels"] if p["title"] == "Notification sinks")
        sql = macros.expand(panel["targets"][0]["rawSql"], now - timedelta(hours=6), now, 60, {})
        rows = {r[0]: r for r in conn.execute(sql).fetchall()}  # type: ignore[arg-type]
    assert set(rows) == {shown(n) for n in names}  # the same names as the alerts and the rules view show
    assert not any("s3cret" in n or "pa55" in n for n in rows)
    sms = rows["webhook:https://sms.example/…"]
    assert sms[1] == 1 and sms[2] is not None and "gateway down" in sms[5]
    assert rows["mqtt"][1] == 0 and rows["mqtt"][5] is None
    assert rows["webhook:http://gw.example:8080"][1] == 1  # not served yet: waiting


def test_the_alarm_load_panels_count_what_reached_the_operators(db_url: str) -> None:
    from alerts.load import interval_start
    from alerts.model import Clear, Explanation, Raise, Severity

    now = datetime.now(UTC)
    flap = Raise("parking.flapping", "sp-07", "parking", Severity.WARNING, "Flapping", Explanation("p"))
    with psycopg.connect(db_url, autocommit=True) as conn:
        t = interval_start(now - timedelta(minutes=30)) + timedelta(minutes=1)  # within one clock 10 minutes
        for k in range(4):  # one alert, opened and re-opened three times
            store.apply(conn, flap, t + timedelta(seconds=15 * k))
            store.apply(conn, Clear("calm"), t + timedelta(seconds=15 * k + 5), key="parking.flapping:sp-07")
        store.apply(conn, Raise("aq.spike", "aq-1", "aq", Severity.INFO, "Spike", Explanation("s")), now)
        conn.execute(
            "INSERT INTO maintenance (subject, starts_at, ends_at, reason, created_by)"
            " VALUES ('aq-9', now() - interval '1 hour', now() + interval '1 hour', 'swap', 'op')"
        )
        store.apply(
            conn, Raise("aq.spike", "aq-9", "aq", Severity.INFO, "Spike", Explanation("s")), now
        )  # muted
        panels = {p["title"]: p for p in render("alerts")["panels"]}
        kinds = {"kind": ["parking", "aq", "cctv"]}

        def run(title: str) -> list[Any]:
            sql = macros.expand(
                panels[title]["targets"][0]["rawSql"],
                now - timedelta(hours=6),
                now + timedelta(minutes=1),
                60,
                kinds,
            )
            return conn.execute(sql).fetchall()  # type: ignore[arg-type]

        series = run("Alarm load: annunciations per 10 minutes")
        top = run("Most frequent alerts (tune these first)")
    assert sum(r[1] for r in series) == 5 and max(r[1] for r in series) == 4
    assert sum(r[2] for r in series) == 4  # warning or worse: the flapping, not the info spike
    assert all(r[0].minute % 10 == 0 and r[0].second == 0 for r in series)  # 10-minute buckets
    assert [(r[0], r[1], r[2]) for r in top] == [("parking.flapping", "sp-07", 4), ("aq.spike", "aq-1", 1)]
    assert float(top[0][3]) == 80.0
