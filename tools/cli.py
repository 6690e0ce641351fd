"""The `citywatch` command: one subcommand per service and tool."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from citywatch import logs
from citywatch.settings import Settings
from tools.bench.cli import bench_app

app = typer.Typer(
    help="citywatch: smart-city monitoring platform",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # a failing command's locals hold the settings, secrets and all
)
db_app = typer.Typer(help="database schema and maintenance", no_args_is_help=True)
broker_app = typer.Typer(help="broker accounts and ACL", no_args_is_help=True)


app.add_typer(db_app, name="db")
app.add_typer(broker_app, name="broker")
tls_app = typer.Typer(help="Certificates for the broker's TLS listener.", no_args_is_help=True)
app.add_typer(tls_app, name="tls")
user_app = typer.Typer(help="API accounts and keys", no_args_is_help=True)
grafana_app = typer.Typer(help="Grafana dashboards as code", no_args_is_help=True)
app.add_typer(grafana_app, name="grafana")
app.add_typer(bench_app, name="bench")
app.add_typer(user_app, name="user")
onboard_app = typer.Typer(
    help="Onboard a city through the API: zones, parking lots, devices in bulk (an admin API key:"
    " citywatch user key NAME --role admin)",
    no_args_is_help=True,
)
app.add_typer(onboard_app, name="onboard")
ApiUrl = Annotated[str, typer.Option(envvar="CITYWATCH_API_URL", help="the API's base URL")]
ApiKey = Annotated[str, typer.Option(envvar="CITYWATCH_API_KEY", help="an admin API key")]

Seed = Annotated[int, typer.Option(help="random seed: the same seed gives the same city and traffic")]
ScaleOpt = Annotated[str, typer.Option(help="city size: small | medium | large")]


def _scale(name: str):  # type: ignore[no-untyped-def]
    from simulators.city import Scale

    return {
        "small": Scale(),
        "medium": Scale(
            stations=25,
            lots=10,
            spaces_per_lot=30,
            cameras=50,
            routes=8,
            stops_per_route=12,
            buses_per_route=4,
        ),
        "large": Scale(
            stations=60,
            lots=20,
            spaces_per_lot=50,
            cameras=120,
            routes=20,
            stops_per_route=15,
            buses_per_route=10,
        ),
    }[name]


@app.callback()
def _main(log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO") -> None:
    logs.setup(log_level)


@db_app.command("migrate")
def db_migrate(
    wait: Annotated[
        float,
        typer.Option(help="seconds to wait for the database to accept connections (it may be starting)"),
    ] = 60.0,
) -> None:
    """Apply pending migrations, licence-dependent TimescaleDB features and the services' roles (run as the
    schema's owner)."""
    from citywatch.db.migrate import wait_for_database
    from citywatch.db.schema import migrate_all

    s = Settings()
    wait_for_database(s.db.url, wait)
    applied, f = migrate_all(s.db.url, s.db_roles.passwords())
    typer.echo(f"applied {len(applied)} migration(s); TimescaleDB licence: {f.licence}")
    for note in f.notes:
        typer.echo(f"  note: {note}")


def _pg_bindir(given: Path | None) -> Path:
    from tools.localservices import pg_bindir

    return given or pg_bindir()


@db_app.command("backup")
def db_backup(
    out: Annotated[
        Path, typer.Option(help="the backup file (pg_dump's custom format); --physical: a directory")
    ],
    physical: Annotated[
        bool,
        typer.Option(help="the cluster's files (pg_basebackup): the licensed edition with compressed chunks"),
    ] = False,
    pg_bindir: Annotated[
        Path | None, typer.Option(help="where pg_dump is (default: PostgreSQL 15's)")
    ] = None,
) -> None:
    """Back up the whole database (pg_dump), or with --physical the whole cluster (pg_basebackup)."""
    from citywatch.db.backup import backup, base_backup

    url, bindir = Settings().db.url, _pg_bindir(pg_bindir)
    typer.echo(f"backup written to {(base_backup if physical else backup)(url, out, bindir)}")


@db_app.command("restore")
def db_restore(
    dump: Annotated[Path, typer.Argument(help="a file made by `citywatch db backup`")],
    pg_bindir: Annotated[
        Path | None, typer.Option(help="where pg_restore is (default: PostgreSQL 15's)")
    ] = None,
) -> None:
    """Restore a backup into the empty database CITYWATCH_DB_URL (as the schema's owner), with TimescaleDB's
    restore steps; the services' roles are granted again."""
    from citywatch.db.backup import restore

    s = Settings()
    restore(s.db.url, dump, _pg_bindir(pg_bindir), s.db_roles.passwords())
    typer.echo(f"restored {dump}")


@db_app.command("retention")
def db_retention() -> None:
    """Erase expired licence plates and drop chunks older than each stream's retention (Apache edition: cron)."""
    from citywatch.db import features

    s = Settings()
    typer.echo(json.dumps(features.drop_expired_chunks(s.db.url, s.privacy)))


@tls_app.command("make")
def tls_make(
    out: Annotated[Path, typer.Option(help="directory for ca.crt, server.crt and server.key")] = Path(
        "certs"
    ),
    host: Annotated[list[str] | None, typer.Option(help="a name or address of the broker (repeat)")] = None,
) -> None:
    """Make a local CA and a server certificate for the broker (kept if already there)."""
    from citywatch.tls import make_local_ca

    files = make_local_ca(out, tuple(host or ["localhost", "127.0.0.1"]))
    typer.echo(f"CA {files.ca}; server certificate {files.cert}; key {files.key}")


@broker_app.command("files")
def broker_files(
    out: Annotated[Path, typer.Option(help="directory for passwd and acl")] = Path("broker"),
) -> None:
    """Write Mosquitto's password file and ACL from the device registry (then SIGHUP the broker)."""
    from citywatch import broker
    from citywatch.devices import broker_accounts

    s = Settings()
    accounts = broker_accounts(s.db.url)
    broker.write_auth_files(out, s.device_secret.get_secret_value(), accounts)
    typer.echo(
        f"wrote {out}/passwd and {out}/acl for {len(accounts)} devices and {len(broker.SERVICE_USERS)} services"
    )


@broker_app.command("password")
def broker_password(
    username: str, version: Annotated[int, typer.Option(help="credential version")] = 1
) -> None:
    """Print the broker password of a device or service account (for provisioning)."""
    from citywatch import broker

    typer.echo(broker.derive_password(Settings().device_secret.get_secret_value(), username, version))


@app.command()
def seed(seed: Seed = 1, scale: ScaleOpt = "small") -> None:
    """Register the simulated city's zones, lots and devices in the registry."""
    from simulators.city import build_city
    from simulators.provision import register_city

    n = register_city(Settings().db.url, build_city(seed, _scale(scale)))
    typer.echo(f"registered {n} devices")


@app.command()
def ingest() -> None:
    """Run one ingest worker (MQTT -> TimescaleDB) until SIGINT/SIGTERM."""
    from ingest.__main__ import main

    main()


@app.command()
def analytics(
    start: Annotated[
        str | None, typer.Option("--from", help="re-evaluate from this ISO time, then exit")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="…up to this ISO time (default: now)")] = None,
) -> None:
    """Run the analytics service (live), or re-evaluate a historical range with --from/--to."""
    from analytics.__main__ import main as run_analytics

    run_analytics(start, end)


@app.command()
def api() -> None:
    """Run the control-centre API (CITYWATCH_API_HOST / _PORT / _WORKERS)."""
    from api.app import serve

    serve(Settings())


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[str, typer.Option(help="viewer | operator | admin")] = "viewer",
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "",
    full_name: Annotated[str, typer.Option(help="shown in the console")] = "",
) -> None:
    """Create an API account (or reset its password and role)."""
    import psycopg

    from api.security import Role, hash_password

    Role.of(role)
    if len(password) < 10:
        raise typer.BadParameter("use at least 10 characters", param_hint="--password")
    with psycopg.connect(Settings().db.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO api_users (username, full_name, password_hash, role) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role,"
            " full_name = excluded.full_name, disabled = false, updated_at = now()",
            (username, full_name, hash_password(password), role),
        )
    typer.echo(f"{username}: {role}")


@user_app.command("key")
def user_key(
    name: str,
    role: Annotated[str, typer.Option(help="viewer | operator | admin")] = "viewer",
) -> None:
    """Create a long-lived API key for a service (Grafana, a neighbouring city); prints it once."""
    import psycopg

    from api.security import Role, new_api_key

    Role.of(role)
    k = new_api_key()
    with psycopg.connect(Settings().db.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO api_keys (prefix, digest, name, role, created_by) VALUES (%s, %s, %s, %s, 'cli')",
            (k.prefix, k.digest, name, role),
        )
    typer.echo(k.secret)


def _onboard(
    url: str,
    key: str,
    method: str,
    path: str,
    body: object = None,
    content: bytes | None = None,
    kind: str = "",
) -> None:
    """One call to the API as an admin key; its answer printed as JSON, a refusal's detail on stderr."""
    import httpx

    headers = {"X-API-Key": key} | ({"Content-Type": kind} if kind else {})
    try:
        r = httpx.request(
            method,
            f"{url.rstrip('/')}/api/v1{path}",
            headers=headers,
            json=body,
            content=content,
            timeout=300,
        )
    except httpx.HTTPError as e:
        typer.echo(f"cannot reach the API at {url}: {e}", err=True)
        raise typer.Exit(1) from None
    if r.status_code >= 400:
        typer.echo(f"{r.status_code}: {r.text}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(r.json(), ensure_ascii=False))


@onboard_app.command("zone")
def onboard_zone(
    zone_id: str,
    name: Annotated[str, typer.Option(help="its name, as the control room says it")],
    boundary: Annotated[
        Path | None, typer.Option(help="a GeoJSON file: a Polygon or MultiPolygon, or a Feature holding one")
    ] = None,
    url: ApiUrl = "http://127.0.0.1:8080",
    key: ApiKey = "",
) -> None:
    """Create or update a zone, with its boundary."""
    body: dict[str, object] = {"name": name}
    if boundary is not None:
        geo = json.loads(boundary.read_text())
        body["boundary"] = geo.get("geometry", geo) if geo.get("type") == "Feature" else geo
    _onboard(url, key, "PUT", f"/zones/{zone_id}", body)


@onboard_app.command("lot")
def onboard_lot(
    lot_id: str,
    name: Annotated[str, typer.Option()],
    capacity: Annotated[int, typer.Option()],
    lat: Annotated[float, typer.Option()],
    lon: Annotated[float, typer.Option()],
    zone: Annotated[str | None, typer.Option()] = None,
    url: ApiUrl = "http://127.0.0.1:8080",
    key: ApiKey = "",
) -> None:
    """Create or update a parking lot."""
    body = {"name": name, "capacity": capacity, "lat": lat, "lon": lon, "zone_id": zone}
    _onboard(url, key, "PUT", f"/parking/lots/{lot_id}", body)


@onboard_app.command("devices")
def onboard_devices(
    path: Annotated[Path, typer.Argument(help="CSV, a JSON list, or a GeoJSON FeatureCollection of Points")],
    url: ApiUrl = "http://127.0.0.1:8080",
    key: ApiKey = "",
) -> None:
    """Register devices in bulk: prints what was created, updated, left alone, and every refused row."""
    kind = {".csv": "text/csv", ".geojson": "application/geo+json"}.get(
        path.suffix.lower(), "application/json"
    )
    _onboard(url, key, "POST", "/devices/import", content=path.read_bytes(), kind=kind)


@onboard_app.command("routes")
def onboard_routes(
    feed: Annotated[Path, typer.Argument(help="the transit agency's GTFS static feed, a .zip")],
    url: ApiUrl = "http://127.0.0.1:8080",
    key: ApiKey = "",
) -> None:
    """Upload the routes and stops (a GTFS feed) the boarding bell runs on: prints its routes, stops and
    directions, or the file, line and problem that refused it."""
    _onboard(url, key, "PUT", "/transit/feed", content=feed.read_bytes(), kind="application/zip")


@grafana_app.command("build")
def grafana_build() -> None:
    """Write the dashboards' JSON to grafana/dashboards/ (commit the result)."""
    from grafana.build import write

    for p in write():
        typer.echo(f"wrote {p}")


@grafana_app.command("push")
def grafana_push(
    url: Annotated[str, typer.Option(help="Grafana base URL, e.g. http://grafana:3000")],
    token: Annotated[str, typer.Option(help="service-account token with Editor (datasource: Admin) rights")],
    db_host: Annotated[
        str, typer.Option(help="TimescaleDB host:port as Grafana reaches it")
    ] = "timescaledb:5432",
    db_name: Annotated[str, typer.Option(help="database")] = "citywatch",
    db_user: Annotated[str, typer.Option(help="a read-only database role for Grafana")] = "citywatch",
    db_password: Annotated[
        str, typer.Option(help="its password", envvar="CITYWATCH_GRAFANA_DB_PASSWORD")
    ] = "",
) -> None:
    """Upsert the datasource, the citywatch folder and every dashboard into a running Grafana (idempotent);
    local hours in the city's time zone (CITYWATCH_TIMEZONE)."""
    from grafana.build import datasource, push

    tz = Settings().timezone
    typer.echo(json.dumps(push(url, token, datasource(db_host, db_name, db_user, db_password), tz)))


@app.command("import-history")
def import_history(
    path: Annotated[Path, typer.Argument(help="CSV: ts (or time) and the reading's fields as columns")],
    device: Annotated[str, typer.Option(help="the registered device whose history it is")],
    stream: Annotated[
        str | None, typer.Option(help="a further stream of its kind, e.g. count (a garage counter)")
    ] = None,
    evaluate: Annotated[bool, typer.Option(help="re-evaluate the imported range afterwards")] = True,
) -> None:
    """Import a device's past readings through ingest's validation and dead letters (not MQTT), then
    re-evaluate them: alerts as if the readings had arrived live."""
    from datetime import timedelta

    from analytics.__main__ import _with_progress_bar
    from analytics.service import AnalyticsService
    from citywatch.contracts.topics import Stream
    from ingest.store import Store
    from tools.history import WORKER, import_history, log_progress

    settings = Settings()
    store = Store(settings.db.url, WORKER)
    try:
        got = import_history(
            store, path, device, settings.tz, Stream(stream) if stream else None, show=log_progress()
        )
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    finally:
        store.close()
    typer.echo(
        f"{got.rows} rows: {got.written} written, {got.duplicates} already there, {got.dead_lettered}"
        f" dead-lettered {got.dead_by_reason or ''}".rstrip(),
        err=True,
    )
    if evaluate and got.first is not None and got.last is not None:
        service = AnalyticsService(settings)
        first, last = got.first, got.last
        n = _with_progress_bar(service, lambda: service.evaluate_range(first - timedelta(minutes=1), last))
        typer.echo(
            f"re-evaluated {n} air-quality readings from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}",
            err=True,
        )
    typer.echo(json.dumps({k: v for k, v in vars(got).items() if k not in ("first", "last")}))


@app.command()
def boarding() -> None:
    """Run the boarding-bell service (stop requests -> the right bus's driver terminal)."""
    from boarding.__main__ import main as run_boarding

    run_boarding()


@app.command()
def gtfs(
    out: Annotated[Path, typer.Option(help="where to write the feed (.zip)")] = Path("gtfs.zip"),
    seed: Seed = 1,
    scale: ScaleOpt = "small",
) -> None:
    """Write the simulated city's bus network as a GTFS static feed."""
    from simulators.city import build_city
    from simulators.gtfs import write_feed

    typer.echo(f"wrote {write_feed(build_city(seed, _scale(scale)), out)}")


@app.command()
def simulate(
    seed: Seed = 1,
    scale: ScaleOpt = "small",
    speed: Annotated[float, typer.Option(help="simulated seconds per real second")] = 1.0,
    duration: Annotated[
        float | None, typer.Option(help="simulated seconds to run (default: until Ctrl-C)")
    ] = None,
    backfill_days: Annotated[
        float, typer.Option(help="publish this many days of history as fast as possible")
    ] = 0,
    faults: Annotated[int, typer.Option(help="inject this many faults of each kind")] = 0,
    fault_every_h: Annotated[
        float, typer.Option(help="also one fault of each kind in every this many simulated hours; 0: none")
    ] = 0.0,
    labels: Annotated[Path | None, typer.Option(help="write ground-truth labels (JSONL) here")] = None,
    mode: Annotated[str, typer.Option(help="device (a connection per device) | gateway")] = "device",
    uci: Annotated[
        Path | None, typer.Option(help="also replay the UCI air-quality CSV as station aq-uci")
    ] = None,
) -> None:
    """Publish a plausible city over MQTT (real-time, accelerated or backfill)."""
    import signal
    import threading

    from simulators.run import SimulateOptions, run_simulation

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    opt = SimulateOptions(
        seed=seed,
        scale=_scale(scale),
        speed=speed,
        duration_s=duration,
        backfill_days=backfill_days,
        faults_per_kind=faults,
        fault_every_h=fault_every_h,
        labels=labels,
        mode=mode,
        uci=uci,
    )
    pub = run_simulation(Settings(), opt, stop)
    typer.echo(json.dumps({"sent": dict(pub.sent), "wills": len(pub.wills)}))


@app.command()
def up(
    seed: Seed = 1,
    scale: ScaleOpt = "small",
    speed: Annotated[float, typer.Option(help="simulation speed")] = 1.0,
    fault_every_h: Annotated[
        float,
        typer.Option(
            help="one fault of each kind (a stuck or spiking sensor, a device offline, a zone outage, bad"
            " data, ...) in every this many simulated hours, so the console has something to show; 0: none"
        ),
    ] = 3.0,
) -> None:
    """Start the whole platform locally (database, broker, ingest, simulators) until Ctrl-C."""
    from simulators.run import SimulateOptions
    from tools.up import up as run_up

    run_up(
        Settings(),
        SimulateOptions(seed=seed, scale=_scale(scale), speed=speed, fault_every_h=fault_every_h),
    )


def main() -> None:
    app()
