"""`citywatch bench NAME`: one command per benchmark, each printing progress on stderr and, as its last
line, one JSON object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

bench_app = typer.Typer(help="benchmarks; the last line printed is one JSON object", no_args_is_help=True)


@bench_app.callback()
def _bench_stops_cleanly() -> None:
    """A benchmark stopped with SIGTERM (or SIGINT while SIGINT is ignored, as in a background job) still
    stops the servers and services it started: the signal unwinds the stack, running their clean-ups."""
    import signal
    import sys

    def stop(signum: int, _frame: object) -> None:
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


@bench_app.command("ingest")
def bench_ingest(
    messages: Annotated[int, typer.Option(help="messages pre-loaded for the drain phase")] = 100_000,
    live_seconds: Annotated[float, typer.Option(help="length of the live phase")] = 15.0,
    workers: Annotated[
        int, typer.Option(help="ingest workers (a shared subscription when more than one)")
    ] = 1,
    pack_readings: Annotated[
        int, typer.Option(help="readings sent in gateway packs (batched phase)")
    ] = 500_000,
    pack_size: Annotated[int, typer.Option(help="readings per SenML pack")] = 50,
    latency_rate: Annotated[
        float | None, typer.Option(help="msg/s for the latency phase (default: half the measured drain rate)")
    ] = None,
) -> None:
    """Drain, batched, live rates, publish->queryable latency, peak RSS, the raw ceilings, loss and duplication."""
    from tools.bench.ingest import run

    result = run(
        messages=messages,
        live_seconds=live_seconds,
        workers=workers,
        pack_readings=pack_readings,
        pack_size=pack_size,
        latency_rate=latency_rate,
    )
    typer.echo(json.dumps(result))


@bench_app.command("compression")
def bench_compression(
    hours: Annotated[float, typer.Option(help="simulated hours of the city's traffic")] = 24.0,
) -> None:
    """Compression ratio of each stream with the former and current order-by, and redelivery into compressed
    chunks. Needs the Timescale License edition: CITYWATCH_PG_BINDIR=$(scripts/install-timescaledb-tsl.sh)."""
    from tools.bench.compression import run

    typer.echo(json.dumps(run(hours=hours)))


@bench_app.command("detect")
def bench_detect(
    days: Annotated[float, typer.Option(help="simulated days with labelled faults")] = 7.0,
    seeds: Annotated[
        int, typer.Option(min=1, help="simulated cities (seeds 21, 22, ...), each with both fault plans")
    ] = 3,
) -> None:
    """NAB scores of the streaming detector and per-fault F1 on the simulator's ground truth."""
    from tools.bench.detect import run

    typer.echo(json.dumps(run(days=days, seeds=seeds)))


@bench_app.command("alerts")
def bench_alerts(
    load: Annotated[float, typer.Option(help="background load, messages per second")] = 3000.0,
    seconds: Annotated[float, typer.Option(help="how long to measure")] = 30.0,
    workers: Annotated[
        int, typer.Option(help="ingest workers (a shared subscription when more than one)")
    ] = 1,
) -> None:
    """Latency from a rule-breaking reading's publish to its alert, under background load."""
    from tools.bench.alerts import run

    typer.echo(json.dumps(run(load_msgs_per_s=load, seconds=seconds, workers=workers)))


@bench_app.command("alarmload")
def bench_alarmload(
    days: Annotated[float, typer.Option(help="simulated days")] = 2.0,
    faults: Annotated[int, typer.Option(help="labelled faults of each kind")] = 2,
    start: Annotated[
        str | None,
        typer.Option(
            help="the simulated range's start, ISO with its zone (e.g. 2026-11-02T00:00:00+09:00): runs from one"
            " start raise the same alerts; default: the last DAYS up to now",
        ),
    ] = None,
) -> None:
    """Does citywatch spam its operators? The alarm load (ISA-18.2 / EEMUA 191) of simulated days."""
    from datetime import datetime

    from tools.bench.alarmload import run

    try:
        out = run(
            days=days, faults_per_kind=faults, start_at=datetime.fromisoformat(start) if start else None
        )
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--start/--days") from e
    typer.echo(json.dumps(out))


@bench_app.command("faults")
def bench_faults(
    rate: Annotated[float, typer.Option(help="messages per second during each scenario")] = 1500.0,
    seconds: Annotated[float, typer.Option(help="length of each scenario's load")] = 20.0,
    outage_s: Annotated[
        float, typer.Option(help="how long the database is down or locked, and the webhook hangs, then fails")
    ] = 10.0,
    only: Annotated[
        list[str] | None, typer.Option(help="run only this scenario (repeatable); default: all of them")
    ] = None,
) -> None:
    """Ingest killed, database down, broker restarted, tables locked, analytics killed, a webhook that
    hangs: every message, alert and notification counted."""
    from tools.bench.faults import run

    typer.echo(json.dumps(run(rate=rate, seconds=seconds, outage_s=outage_s, only=only)))


@bench_app.command("soak")
def bench_soak(
    rate: Annotated[
        float, typer.Option(help="messages per second (default: half of bench ingest's two-worker drain)")
    ] = 15000.0,
    duration: Annotated[float, typer.Option(help="seconds to run")] = 3600.0,
    workers: Annotated[
        int, typer.Option(help="ingest workers (a shared subscription when more than one)")
    ] = 2,
    sample_s: Annotated[float, typer.Option(help="seconds between memory samples")] = 10.0,
    max_growth_mb: Annotated[
        float, typer.Option(help="memory growth a service may show (last quarter vs first) and still pass")
    ] = 25.0,
    probe_s: Annotated[
        float, typer.Option(help="seconds between fire probes that must become alerts")
    ] = 10.0,
) -> None:
    """The platform at a steady load for a long time, with the city's air quality live and fire probes:
    accounting, memory growth, errors in the logs, alert latency. Exits 1 when the soak did not pass."""
    from tools.bench.soak import run

    out = run(
        rate=rate,
        duration_s=duration,
        sample_s=sample_s,
        max_growth_mb=max_growth_mb,
        workers=workers,
        probe_s=probe_s,
    )
    typer.echo(json.dumps(out))
    if not out["passed"]:
        raise typer.Exit(1)


@bench_app.command("boarding")
def bench_boarding(
    buses: Annotated[int, typer.Option(help="buses in service")] = 200,
    rate: Annotated[float, typer.Option(help="stop requests per second")] = 50.0,
    seconds: Annotated[float, typer.Option(help="how long to measure")] = 60.0,
    pass_rate: Annotated[
        float, typer.Option(help="share of requested stops a simulated driver passes anyway")
    ] = 0.1,
    speed: Annotated[float, typer.Option(help="simulated seconds per second for the buses")] = 10.0,
) -> None:
    """Request -> driver terminal latency and no-stop-pass precision/recall."""
    from tools.bench.boarding import run

    typer.echo(
        json.dumps(run(buses=buses, requests_per_s=rate, seconds=seconds, pass_rate=pass_rate, speed=speed))
    )


@bench_app.command("api")
def bench_api(
    devices: Annotated[int, typer.Option(help="air-quality stations with minute data")] = 500,
    days: Annotated[int, typer.Option(help="days of history")] = 30,
    requests: Annotated[int, typer.Option(help="requests per typical query")] = 300,
    workers: Annotated[int, typer.Option(help="processes loading the history")] = 2,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="keep the loaded database here and reuse it next time (the load takes ~25 min)"),
    ] = None,
) -> None:
    """Dashboard query latency through the API on a month of minute data."""
    from tools.bench.api import run

    typer.echo(
        json.dumps(run(devices=devices, days=days, requests=requests, workers=workers, data_dir=data_dir))
    )


@bench_app.command("realdata")
def bench_realdata(
    network_from: Annotated[
        str, typer.Option(help="first day of the multi-station network replayed (its local date)")
    ] = "2016-11-01",
    network_days: Annotated[float, typer.Option(min=1, help="days of the network replayed")] = 120.0,
    uci: Annotated[bool, typer.Option(help="replay the UCI roadside station too")] = True,
    garages_city: Annotated[str, typer.Option(help="the city whose garages are replayed")] = "Dresden",
    garages_from: Annotated[
        str, typer.Option(help="first day of the garages' counts replayed (the city's local date)")
    ] = "2021-10-01",
    garages_days: Annotated[float, typer.Option(min=1, help="days of the garages' counts replayed")] = 30.0,
) -> None:
    """Real public data through the real path (CSV history import, re-evaluation): alerts per rule, per
    1,000 device-hours inside and outside shared episodes, and the alarm load. The multi-station network
    is read from the folder CITYWATCH_BENCH_NETWORK names, the garages' counts from CITYWATCH_BENCH_GARAGES."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from tools.bench.realdata import GARAGES_TZ, NETWORK_TZ, run

    start = datetime.fromisoformat(network_from).replace(tzinfo=ZoneInfo(NETWORK_TZ))
    garages = datetime.fromisoformat(garages_from).replace(tzinfo=ZoneInfo(GARAGES_TZ))
    typer.echo(json.dumps(run(start, network_days, uci, garages_city, garages, garages_days)))
