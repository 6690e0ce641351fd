"""The alert engine's faults for `citywatch bench faults`: every probe alert and notification counted.

While the city's traffic runs through ingest, a probe camera (a new one each time, so each probe
opens its own alert) reports a fire every ``probe_every_s``. Analytics runs as its own process(es),
notifying an MQTT topic and a webhook receiver run here. Two scenarios:

* ``analytics_sigkill`` — two analytics instances run at once (one by mistake); the one holding the
  leadership lock is killed with SIGKILL, three times, each time restarted: the other takes over
  from the saved state. Every probe must have exactly one alert, opened once, and each sink must
  have been told of each opening once.
* ``webhook_hang`` — the webhook receiver hangs (accepts, never answers) for ``outage_s``, then
  answers 500 for ``outage_s``, then recovers. The engine must keep raising alerts on time, the
  failures must be visible in ``alert_deliveries``, and every opening must reach the webhook once.

The load (and the probes) run for ``seconds`` and on until the fault is over. Counted per scenario:
probes, alerts raised, alerts missing, alerts duplicated (a second alert row or a count above one for
a probe), notifications of each opening missing or duplicated per sink, failed webhook attempts, the
slowest probe -> alert time during the fault, ``recovery_s`` and the analytics' peak RSS.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from citywatch.contracts import messages as m
from citywatch.contracts.topics import DeviceKind, topic_for
from citywatch.leadership import leader_session_name
from simulators.city import City, Device
from simulators.engine import simulate
from simulators.publisher import Publisher
from tools.bench.common import Prober, Servers, gateway_publisher, peak_rss_mb, progress
from tools.bench.receivers import HookReceiver, MqttWatch


def probe_cameras(n: int, prefix: str = "cam-fault") -> list[Device]:
    """``n`` fire-probe cameras, each in a zone of its own (named after it): each probe opens an alert of
    its own (two cameras of one zone seeing fire within minutes are one incident, which groups them)."""
    return [
        Device(
            f"{prefix}-{i:03d}",
            DeviceKind.CCTV,
            "probe",
            37.26,
            127.02,
            f"{prefix}-{i:03d}",
            0.0,
            meta={"area": "road"},
        )
        for i in range(n)
    ]


@dataclass
class Analytics:
    """Analytics processes of one scenario; the peak RSS over all of them."""

    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    peak: float = 0.0

    def start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, **self.env, "CITYWATCH_LOG_LEVEL": "ERROR"}
        p = subprocess.Popen([sys.executable, "-m", "analytics"], env=env)
        self.procs.append(p)
        return p

    def sample(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    self.peak = max(self.peak, peak_rss_mb(p.pid, "VmRSS"))

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


def leader_pid(conninfo: str) -> int | None:
    """The process id of the analytics instance holding the leadership lock (its lock session is named
    ``citywatch-leader:citywatch-analytics:<pid>``), if one holds it."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted"
            " AND a.application_name LIKE %s",
            (leader_session_name("citywatch-analytics", "%"),),  # any process
        ).fetchall()
    for (name,) in rows:
        with contextlib.suppress(ValueError, IndexError):
            return int(str(name).rsplit(":", 1)[1])
    return None


def run_scenario(
    name: str,
    s: Servers,
    city: City,
    secret: str,
    probes: list[Device],
    *,
    rate: float,
    seconds: float,
    first_seq: int,
    fault: Callable[[Analytics, HookReceiver], None],
    instances: int,
    count_messages: Callable[[int, float], dict[str, Any]],
    probe_every_s: float = 0.5,
) -> dict[str, Any]:
    hook = HookReceiver()
    watch = MqttWatch(s.broker.port, secret)
    env = {
        "CITYWATCH_DB_URL": s.pg.url,
        "CITYWATCH_MQTT_PORT": str(s.broker.port),
        "CITYWATCH_DEVICE_SECRET": secret,
        "CITYWATCH_ANALYTICS_WEBHOOKS": hook.url,
        "CITYWATCH_ANALYTICS_POLL_S": "0.5",
    }
    analytics = Analytics(env)
    for _ in range(instances):
        analytics.start()
    pub: Publisher = gateway_publisher(s.broker.port, secret)
    warm, probes = probes[0], probes[1:]
    _fire(pub, warm.device_id, first_seq - 1, f"fault-{first_seq}-warm")
    with psycopg.connect(s.pg.url, autocommit=True) as conn:  # the engine is live end to end
        deadline = time.monotonic() + 120
        while not conn.execute("SELECT 1 FROM alerts WHERE subject = %s", (warm.device_id,)).fetchone():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: analytics raised no alert within 120 s of starting")
            time.sleep(0.1)
    stop_sampling = threading.Event()

    def sampler() -> None:
        while not stop_sampling.wait(0.25):
            analytics.sample()

    threading.Thread(target=sampler, daemon=True).start()
    progress(f"{name}: {rate:g} msg/s for {seconds:g}s with a fire probe every {probe_every_s:g}s")
    end = time.time() - 30
    outs = simulate(city, end - 48 * 3600.0, end, seed=first_seq % 997, first_seq=first_seq)

    prober = Prober(s.pg.url, fire_alerted, interval_s=0.05, grace_s=120.0).__enter__()
    t0 = time.monotonic()
    fault_at, fault_window = t0 + seconds / 3, [0.0, 0.0]
    fault_thread: threading.Thread | None = None
    sent = 0
    next_probe = t0 + 1.0
    k = 0

    def strike() -> None:
        fault_window[0] = time.monotonic()
        fault(analytics, hook)
        fault_window[1] = time.monotonic()

    for o in outs:
        now = time.monotonic()
        if now - t0 > seconds and fault_thread is not None and not fault_thread.is_alive():
            break  # the load runs for ``seconds``, and on until the fault is over
        delay = t0 + sent / rate - now
        if delay > 0:
            time.sleep(delay)
        if fault_thread is None and time.monotonic() >= fault_at:
            fault_thread = threading.Thread(target=strike, daemon=True)
            fault_thread.start()
        pub.send(o)
        sent += 1
        if time.monotonic() >= next_probe and k < len(probes):
            cam = probes[k].device_id
            prober.sent_now(cam)
            _fire(pub, cam, first_seq + k, f"fault-{first_seq}-{k:05d}")
            k += 1
            next_probe += probe_every_s
    if fault_thread is not None:
        fault_thread.join(180)
    pub.flush(120)
    sent = pub.sent["data"] + pub.sent["raw"] - 1  # the city's traffic and the probes (not the warm-up)
    pub.close()
    healed = fault_window[1] or time.monotonic()
    probe_sent = dict(prober.sent)
    # wait for every probe's alert and for both sinks to have been told of every opening
    deadline = time.monotonic() + 240
    alerts: dict[str, tuple[int, int, datetime]] = {}
    rows_per_subject: Counter[str] = Counter()
    done_at: float | None = None
    with psycopg.connect(s.pg.url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            rows = conn.execute(
                "SELECT subject, id, count, opened_at FROM alerts WHERE rule = 'cctv.fire' AND subject = ANY(%s)",
                (sorted(probe_sent),),
            ).fetchall()
            rows_per_subject = Counter(r[0] for r in rows)
            alerts = {r[0]: (int(r[1]), int(r[2]), r[3]) for r in rows}
            ids = [a[0] for a in alerts.values()]
            if len(alerts) == len(probe_sent) and all(watch.opened[i] and hook.accepted[i] for i in ids):
                done_at = time.monotonic()
                break
            time.sleep(0.2)
        row = conn.execute(  # attempts that failed: every attempt but the one that succeeded
            "SELECT coalesce(sum(d.attempts), 0) - count(*) FILTER (WHERE d.delivered_at IS NOT NULL)"
            " FROM alert_deliveries d JOIN alert_outbox o ON o.id = d.outbox_id"
            " WHERE d.sink LIKE 'webhook:%%' AND o.alert_id = ANY(%s)",
            ([a[0] for a in alerts.values()],),
        ).fetchone()
        failed_attempts = int(row[0]) if row else 0
    prober.__exit__(None, None, None)
    stop_sampling.set()
    analytics.stop()
    watch.close()
    hook.close()
    ids = [a[0] for a in alerts.values()]
    latency = {c: prober.seen[c] - t for c, t in probe_sent.items() if c in prober.seen}
    during = [v for c, v in latency.items() if fault_window[0] <= probe_sent[c] <= healed]
    # the engine kept working through the fault: probes sent during it whose alert was visible before it ended
    kept_up = sum(
        1 for c, t in probe_sent.items() if fault_window[0] <= t and prober.seen.get(c, healed) < healed
    )
    messages = count_messages(first_seq, time.monotonic() - t0 + 5)
    entry: dict[str, Any] = {
        "name": name,
        "sent": sent,
        **messages,
        "lost": sent - messages["stored"] - messages["dead_lettered"],
        "probes": len(probe_sent),
        "alerts_raised": len(alerts),
        "alerts_lost": len(probe_sent) - len(alerts),
        "alerts_duplicated": sum(n - 1 for n in rows_per_subject.values())
        + sum(1 for a in alerts.values() if a[1] > 1),
        "notifications_lost": {
            "mqtt": sum(1 for i in ids if not watch.opened[i]),
            "webhook": sum(1 for i in ids if not hook.accepted[i]),
        },
        "notifications_duplicated": {
            "mqtt": sum(max(0, watch.opened[i] - 1) for i in ids),
            "webhook": sum(max(0, hook.accepted[i] - 1) for i in ids),
        },
        "notifications_redelivered": {"mqtt": watch.redelivered, "webhook": hook.redelivered},
        "webhook_failed_attempts": failed_attempts,
        "alert_latency_p50_s": round(sorted(latency.values())[len(latency) // 2], 2) if latency else None,
        "slowest_alert_s": round(max(latency.values()), 2) if latency else None,
        "slowest_alert_during_fault_s": round(max(during), 2) if during else None,
        "alerted_during_fault": kept_up,
        "recovery_s": round((done_at or time.monotonic()) - healed, 2),
        "peak_rss_mb": round(analytics.peak, 1),
    }
    progress(f"{name}: probe -> alert s, in order: {[round(latency.get(c, -1), 1) for c in probe_sent]}")
    progress(
        f"{name}: {entry['probes']} probes, {entry['alerts_raised']} alerts, lost {entry['alerts_lost']}, "
        f"duplicated {entry['alerts_duplicated']}; notifications lost {entry['notifications_lost']}, "
        f"duplicated {entry['notifications_duplicated']}; all told {entry['recovery_s']}s after the fault"
    )
    return entry


def fire_probe(camera: str, seq: int, event_id: str) -> tuple[str, bytes]:
    """A probe camera's fire event, stamped now (fire is always critical: it opens an alert at once),
    as the topic and payload to publish."""
    ev = m.CctvEvent(
        device_id=camera, ts=datetime.now(UTC), seq=seq, event_id=event_id,
        event_type=m.CctvEventType.FIRE, confidence=0.95, object_class=m.ObjectClass.FIRE,
        bbox=m.BoundingBox(x=0.1, y=0.1, w=0.1, h=0.1), zone=camera,  # a probe's zone is its own
    )  # fmt: skip
    return topic_for(DeviceKind.CCTV, camera), m.to_json(ev)


def fire_alerted(c: psycopg.Connection[Any], cameras: set[Any]) -> list[Any]:
    """Which of the probe ``cameras`` have a fire alert (a ``Prober``'s ``visible``)."""
    rows = c.execute(
        "SELECT subject FROM alerts WHERE rule = 'cctv.fire' AND subject = ANY(%s)", (sorted(cameras),)
    ).fetchall()
    return [r[0] for r in rows]


def fire_stored(c: psycopg.Connection[Any], cameras: set[Any]) -> list[Any]:
    """Which of the probe ``cameras`` have their fire event stored by ingest (a ``Prober``'s ``visible``)."""
    rows = c.execute(
        "SELECT DISTINCT device_id FROM cctv_events WHERE device_id = ANY(%s)", (sorted(cameras),)
    ).fetchall()
    return [r[0] for r in rows]


def _fire(pub: Publisher, camera: str, seq: int, event_id: str) -> None:
    pub.send_raw(*fire_probe(camera, seq, event_id))


def _standing_by(conninfo: str, pid: int, timeout: float = 60.0) -> bool:
    """Wait until the analytics process ``pid`` has its lock session open (it is up, leading or ready
    to take over)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = %s",
                (leader_session_name("citywatch-analytics", pid),),
            ).fetchone():
                return True
            time.sleep(0.1)
    return False


def kill_the_leader(seconds: float) -> Callable[[Analytics, HookReceiver], None]:
    """SIGKILL the instance holding the leadership, three times; each time a new instance is started and,
    once it stands by, the next kill comes."""

    def fault(a: Analytics, _hook: HookReceiver) -> None:
        url = a.env["CITYWATCH_DB_URL"]
        for _ in range(3):
            pid = leader_pid(url)
            victim = next((p for p in a.procs if p.pid == pid and p.poll() is None), None)
            victim = victim or next(p for p in a.procs if p.poll() is None)
            a.sample()
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            progress(
                f"analytics {victim.pid} killed ({'the leader' if victim.pid == pid else 'no leader found'})"
            )
            time.sleep(seconds / 10)
            fresh = a.start()
            _standing_by(url, fresh.pid)

    return fault


def hang_then_fail(outage_s: float) -> Callable[[Analytics, HookReceiver], None]:
    def fault(_a: Analytics, hook: HookReceiver) -> None:
        hook.set("hang")
        time.sleep(outage_s)
        hook.set("fail")
        time.sleep(outage_s)
        hook.set("ok")

    return fault
