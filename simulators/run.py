"""`citywatch simulate`: wire the city, the engine and the publisher together."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from citywatch.contracts.topics import DeviceKind
from citywatch.settings import Settings
from simulators.city import Device, Scale, build_city
from simulators.drivers import DriverAgent, DriverDesk, labels
from simulators.engine import FAULT_KINDS, Out, plan_episodes, plan_faults, plan_recurring_faults, simulate
from simulators.provision import register_city
from simulators.publisher import Publisher

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SimulateOptions:
    seed: int = 1
    scale: Scale = field(default_factory=Scale)
    speed: float = 1.0  # simulated seconds per wall second; inf = as fast as possible
    duration_s: float | None = None  # simulated time to cover (None: until stopped)
    backfill_days: float = 0.0  # start this many days ago and catch up as fast as possible
    faults_per_kind: int = 0
    fault_every_h: float = (
        0.0  # > 0: also one fault of each kind in every this many hours, for as long as it runs
    )
    labels: Path | None = None
    mode: str = "device"
    uci: Path | None = None
    register: bool = True
    drivers: bool = True  # bus drivers watch their terminals (the boarding bell) and stop when asked
    pass_rate: float = 0.05  # … except this share of the time (written to the labels file)


def run_simulation(
    settings: Settings, opt: SimulateOptions, stop: threading.Event | None = None
) -> Publisher:
    stop = stop or threading.Event()
    city = build_city(opt.seed, opt.scale)
    if opt.uci is not None:
        city.devices.append(
            Device(
                "aq-uci",
                DeviceKind.AIR_QUALITY,
                "UCI replay station",
                37.27,
                127.01,
                "paldal",
                3600.0,
                meta={"source": "UCI Air Quality"},
            )
        )
    if opt.register:
        register_city(settings.db.url, city)
    now = time.time()
    if opt.backfill_days:
        start = now - opt.backfill_days * 86400
    elif opt.speed > 1:  # accelerated: replay the last hours quickly, then carry on in real time
        start = now - min(opt.speed * 3600, 7 * 86400)
    else:
        start = now
    end = start + opt.duration_s if opt.duration_s else now + 365 * 86400
    if opt.backfill_days and opt.duration_s is None:
        end = now
    speed = float("inf") if opt.backfill_days else opt.speed
    episodes = plan_episodes(opt.seed, start, end)
    faults = (
        plan_faults(city, opt.seed, start, end, opt.faults_per_kind, FAULT_KINDS)
        if opt.faults_per_kind
        else []
    )
    if opt.fault_every_h > 0:
        faults += plan_recurring_faults(city, opt.seed, start, end, opt.fault_every_h * 3600)
        log.info(
            "a fault of each kind (%s) every %g h of simulated time",
            ", ".join(FAULT_KINDS),
            opt.fault_every_h,
        )
    if opt.labels:
        with opt.labels.open("w") as f:
            for e in episodes:
                f.write(
                    json.dumps(
                        {
                            "type": "episode",
                            "zones": e.zones,
                            "start": e.start,
                            "end": e.end,
                            "factor": e.factor,
                        }
                    )
                    + "\n"
                )
            for fl in faults:
                f.write(json.dumps(fl.label()) + "\n")
        log.info("ground truth: %d episodes, %d faults -> %s", len(episodes), len(faults), opt.labels)
    pub = Publisher(
        host=settings.mqtt.host,
        port=settings.mqtt.port,
        secret=settings.device_secret.get_secret_value(),
        mode=opt.mode,
    )
    pub.open(city.devices, start)
    desk: DriverDesk | None = None
    agent: DriverAgent | None = None
    if opt.drivers and speed != float("inf"):  # live runs only: drivers react to their terminals in real time
        desk = DriverDesk(opt.pass_rate, opt.seed)
        agent = DriverAgent(
            desk,
            host=settings.mqtt.host,
            port=settings.mqtt.port,
            secret=settings.device_secret.get_secret_value(),
        )
    log.info(
        "simulating %d devices from %s (%s)",
        len(city.devices),
        datetime.fromtimestamp(start, UTC).isoformat(timespec="seconds"),
        "backfill" if speed == float("inf") else f"x{speed:g}",
    )
    try:
        outs = simulate(city, start, end, seed=opt.seed, faults=faults, episodes=episodes, desk=desk)
        if opt.uci is not None:
            from simulators.uci import replay

            days = opt.backfill_days or 30.0
            pub.run(replay(opt.uci, datetime.fromtimestamp(now, UTC), days), speed=float("inf"))

        def until_stopped() -> Iterator[Out]:
            for o in outs:
                if stop.is_set():
                    return
                yield o

        pub.run(until_stopped(), speed=speed)
    finally:
        pub.close()
        if agent is not None and desk is not None:
            agent.close()
            if opt.labels:
                with opt.labels.open("ab") as out:
                    out.write(b"".join(line + b"\n" for line in labels(desk)))
            log.info(
                "drivers stopped at %d requested stops and passed %d anyway",
                len(desk.stops_made),
                len(desk.passes),
            )
        log.info("simulator sent %s; %d Last Wills expected", dict(pub.sent), len(pub.wills))
    return pub
