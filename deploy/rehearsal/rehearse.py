"""`make rehearse`: the real docker-compose.yml, unmodified, in real containers, checked end to end.

No image registry is reachable from the machines citywatch is built on, so the third-party images the
compose file names are built here, from the same upstream sources (``../shared/upstream``), as faithful
stand-ins (``*.Containerfile`` beside this file): TimescaleDB 2.19.3 (Timescale License edition) on
Debian's PostgreSQL 15 with the official postgres entrypoint, Mosquitto 2.0.20 with the official image's
user, paths and entrypoint, Prometheus from Debian's package with the official image's paths. The
citywatch image is built from the real ``Dockerfile`` (on a stand-in for ``python:3.11-slim``). The only
override (``compose.rehearsal.yml``) swaps those image names and leaves Grafana out.

podman does not schedule health checks nor honour ``depends_on`` conditions here (see
``../shared/upstream/README.md``), so the services come up in dependency order and their health checks
are run by this script. Then, end to end: every service healthy; a device registered through the API
publishes over TLS on 8883 with its own credentials and its readings land in TimescaleDB; a malformed
message lands in ``dead_letters``; a camera's fire raises an alert that the API lists and its live stream
delivers; the console and ``/docs`` answer; Prometheus scrapes every citywatch service; ``compose
restart timescaledb`` and ``mosquitto`` while the device keeps publishing lose and double nothing;
no secret is in the citywatch image (its build context holds canary secrets that ``.dockerignore`` must
keep out) nor in any service's log. Progress on stderr; the last line is one JSON object.

Images are cached under tags keyed by their inputs, so a second run builds nothing but what changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from citywatch.contracts import messages as m
from citywatch.contracts.topics import DeviceKind, topic_for
from citywatch.tls import make_local_ca
from simulators.city import Scale, build_city
from simulators.gtfs import write_feed

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "deploy" / "rehearsal"
UPSTREAM = Path(os.environ.get("CITYWATCH_UPSTREAM", ROOT.parent / "shared" / "upstream"))
PROJECT = "cwrehearsal"
API = "http://127.0.0.1:8080"
CANARY = "citywatch-canary-" + "9d1f0c"  # planted in the build context; must not reach the image
#: the services docker-compose.yml runs in the rehearsal (grafana left out; simulate is a demo profile)
ONE_SHOT = ("migrate", "broker-auth")
SERVICES = ("timescaledb", *ONE_SHOT, "mosquitto", "ingest", "analytics", "boarding", "api", "prometheus")
#: the services that connect to the database as their own role (citywatch.db.roles), and Grafana's
ROLES = ("ingest", "analytics", "api", "boarding", "grafana")
#: Prometheus jobs and how many targets each should have (analytics runs two replicas)
JOBS = {"citywatch-ingest": 1, "citywatch-analytics": 2, "citywatch-api": 1, "citywatch-boarding": 1}


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(*cmd: str | Path, check: bool = True, env: dict[str, str] | None = None, timeout: float = 1800) -> str:
    res = subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    if check and res.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, cmd))} failed ({res.returncode}): {res.stderr.strip()[-2000:]}"
        )
    return res.stdout


# -- images ------------------------------------------------------------------------------------------
def _context_files(name: str) -> dict[str, Path]:
    """What each stand-in's build context holds besides its Containerfile."""
    images = UPSTREAM / "images"
    if name == "base":
        return {f"ca/{p.name}": p for p in sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))}
    if name == "timescaledb":
        return {
            "timescaledb.tar.gz": UPSTREAM / "timescaledb-2.19.3.tar.gz",
            "docker-entrypoint.sh": images / "postgres-15-bookworm" / "docker-entrypoint.sh",
            "docker-ensure-initdb.sh": images / "postgres-15-bookworm" / "docker-ensure-initdb.sh",
            "000_install_timescaledb.sh": images / "timescaledb-docker" / "docker-entrypoint-initdb.d"
            / "000_install_timescaledb.sh",
        }  # fmt: skip
    if name == "mosquitto":
        return {
            "mosquitto.tar.gz": UPSTREAM / "mosquitto-2.0.20.tar.gz",
            "docker-entrypoint.sh": images / "eclipse-mosquitto-2.0" / "docker-entrypoint.sh",
            "mosquitto-no-auth.conf": images / "eclipse-mosquitto-2.0" / "mosquitto-no-auth.conf",
        }
    return {}


def build_standin(name: str, parent: str, args: dict[str, str]) -> str:
    """The stand-in ``name`` built on ``parent``, tagged by a digest of everything it is made of."""
    containerfile = HERE / f"{name}.Containerfile"
    files = _context_files(name)
    h = hashlib.sha256(containerfile.read_bytes())
    h.update(sh("podman", "image", "inspect", "--format", "{{.Id}}", parent).encode())
    for k, v in sorted({**args}.items()):
        h.update(f"{k}={v}".encode())
    for rel, src in sorted(files.items()):
        h.update(rel.encode() + hashlib.sha256(src.read_bytes()).digest())
    tag = f"localhost/citywatch-rehearsal/{name}:{h.hexdigest()[:12]}"
    if subprocess.run(["podman", "image", "exists", tag]).returncode == 0:
        progress(f"image {tag}: cached")
        return tag
    progress(f"building {tag}")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"cw-{name}-") as ctx:
        (Path(ctx) / "ca").mkdir()
        for rel, src in files.items():
            dst = Path(ctx) / rel
            shutil.copyfile(src, dst)
            dst.chmod(0o755 if rel.endswith(".sh") else 0o644)
        build_args = [a for k, v in {"BASE": parent, **args}.items() for a in ("--build-arg", f"{k}={v}")]
        sh("podman", "build", "--pull=never", "-q", "-f", containerfile, *build_args, "-t", tag, ctx)
    progress(f"built {tag} in {time.monotonic() - t0:.0f} s")
    return tag


def build_citywatch(python: str) -> str:
    """The real Dockerfile, from the repository's files plus canary secrets (.env, a TLS key, a feed) that
    .dockerignore must keep out of the image."""
    tag = "localhost/citywatch:latest"
    with tempfile.TemporaryDirectory(prefix="cw-context-") as ctx:
        for rel in sh("git", "-C", ROOT, "ls-files", "-z").split("\0"):
            src = ROOT / rel
            if rel and src.is_file():
                (Path(ctx) / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, Path(ctx) / rel)
        for rel in (".env", ".env.production", "deploy/certs/server.key", "deploy/certs/extra.pem"):
            (Path(ctx) / rel).write_text(f"SECRET={CANARY}\n")
        with (Path(ctx) / "deploy" / "gtfs" / "gtfs.zip").open("w") as f:
            f.write(CANARY)
        progress("building the citywatch image from Dockerfile")
        t0 = time.monotonic()
        sh("podman", "build", "--pull=never", "-q", "--build-arg", f"BASE={python}", "-t", tag, ctx)
        progress(f"citywatch image built in {time.monotonic() - t0:.0f} s")
    return tag


def secrets_in_image(tag: str, needles: list[str]) -> list[str]:
    """The needles found anywhere in the image's files."""
    cid = sh("podman", "create", tag).strip()
    try:
        with tempfile.TemporaryDirectory(prefix="cw-image-") as d:
            tar = Path(d) / "fs.tar"
            sh("podman", "export", "-o", tar, cid)
            data = tar.read_bytes()
    finally:
        sh("podman", "rm", "-f", cid, check=False)
    return [n for n in needles if n.encode() in data]


# -- the compose project -----------------------------------------------------------------------------
class Compose:
    def __init__(self, workdir: Path, images: dict[str, str]) -> None:
        self.dir = workdir
        self.env = {f"CW_REHEARSAL_{k.upper()}": v for k, v in images.items()}
        bin_dir = Path(sys.executable).parent
        self.cmd: list[str | Path] = [
            bin_dir / "podman-compose", "-p", PROJECT, "-f", workdir / "docker-compose.yml",
            "-f", HERE / "compose.rehearsal.yml",
        ]  # fmt: skip

    def __call__(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        return sh(*self.cmd, *args, env=self.env, check=check, timeout=timeout)

    def containers(self, service: str | None = None) -> list[dict[str, Any]]:
        label = f"label=io.podman.compose.project={PROJECT}"
        out = json.loads(sh("podman", "ps", "-a", "--format", "json", "--filter", label) or "[]")
        rows = [
            {"name": c["Names"][0], "service": c["Labels"].get("com.docker.compose.service"), "state": c["State"],
             "exit": c.get("ExitCode", 0)}
            for c in out
        ]  # fmt: skip
        return [r for r in rows if service is None or r["service"] == service]

    def exec(self, service: str, *cmd: str) -> str:
        return sh("podman", "exec", self.containers(service)[0]["name"], *cmd)

    def psql(self, sql: str) -> list[list[str]]:
        out = self.exec("timescaledb", "psql", "-U", "citywatch", "-d", "citywatch", "-AtF", "\t", "-c", sql)
        return [line.split("\t") for line in out.splitlines() if line]


def clean() -> None:
    """Remove what an earlier rehearsal left (``--keep``, or one that was killed): containers and volumes."""
    containers = sh(
        "podman", "ps", "-aq", "--filter", f"label=io.podman.compose.project={PROJECT}", check=False
    )
    if containers.split():
        sh("podman", "rm", "-f", *containers.split(), check=False)
    volumes = [
        v for v in sh("podman", "volume", "ls", "-q", check=False).split() if v.startswith(f"{PROJECT}_")
    ]
    if volumes:
        sh("podman", "volume", "rm", "-f", *volumes, check=False)


def healthy(name: str, retries: int = 4, every_s: float = 15.0) -> bool:
    """The container's health check passes; as Docker counts it, a container is unhealthy only after
    ``retries`` failures in a row ``every_s`` apart (the compose file's ``retries`` and ``interval``: a
    service busy starting up, on two cores shared by ten containers, may miss one scrape)."""
    for attempt in range(retries):
        res = subprocess.run(["podman", "healthcheck", "run", name], capture_output=True, text=True)
        if res.returncode == 0 or "no defined healthcheck" in res.stderr + res.stdout:
            return True
        if attempt + 1 < retries:
            time.sleep(every_s)
    return False


def wait_healthy(c: Compose, service: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = c.containers(service)
        if rows and all(r["state"] == "running" for r in rows) and all(healthy(r["name"], 1) for r in rows):
            progress(f"{service}: healthy ({len(rows)} container{'s' if len(rows) > 1 else ''})")
            return
        if any(r["state"] == "exited" for r in rows):
            logs = sh("podman", "logs", "--tail", "30", rows[0]["name"], check=False)
            raise RuntimeError(f"{service} exited:\n{logs}")
        time.sleep(2)
    raise RuntimeError(f"{service} not healthy after {timeout:.0f} s: {c.containers(service)}")


def wait_completed(c: Compose, service: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = c.containers(service)
        if rows and rows[0]["state"] == "exited":
            if rows[0]["exit"] != 0:
                logs = subprocess.run(["podman", "logs", rows[0]["name"]], capture_output=True, text=True)
                raise RuntimeError(f"{service} failed:\n{(logs.stdout + logs.stderr)[-4000:]}")
            progress(f"{service}: completed")
            return
        time.sleep(1)
    raise RuntimeError(f"{service} did not complete in {timeout:.0f} s")


def wait(pred: Callable[[], bool], timeout: float, what: str, every: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def prepare(workdir: Path, env: dict[str, str]) -> None:
    """The compose file and what it mounts, as an operator lays them out, in a directory of their own."""
    shutil.copy2(ROOT / "docker-compose.yml", workdir / "docker-compose.yml")
    for d in ("deploy/mosquitto", "deploy/prometheus", "grafana"):
        shutil.copytree(ROOT / d, workdir / d)
    (workdir / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    make_local_ca(workdir / "deploy" / "certs", ("localhost", "127.0.0.1", "mosquitto"))
    (workdir / "deploy" / "gtfs").mkdir(parents=True)
    write_feed(
        build_city(5, Scale(stations=1, lots=1, spaces_per_lot=1, cameras=1)),
        workdir / "deploy/gtfs/gtfs.zip",
    )


# -- the device ----------------------------------------------------------------------------------------
class Device:
    """A field device on the TLS listener with its own credentials: QoS 1, a persistent session, so that
    what it sent before a broker restart is delivered after it."""

    def __init__(self, device_id: str, password: str, ca: Path) -> None:
        self.device_id = device_id
        self.acked: set[int] = set()
        self.connected = threading.Event()
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=device_id, clean_session=False)
        self.c.username_pw_set(device_id, password)
        self.c.tls_set(ca_certs=str(ca))
        self.c.max_queued_messages_set(0)
        self.c.reconnect_delay_set(1, 5)
        self.c.on_connect = lambda *_a: self.connected.set()
        self.c.on_disconnect = lambda *_a: self.connected.clear()
        self.c.on_publish = lambda _c, _u, mid, _rc, _p: self.acked.add(mid)
        self.mids: list[int] = []
        self.c.connect("127.0.0.1", 8883, keepalive=10)
        self.c.loop_start()
        if not self.connected.wait(15):
            raise RuntimeError(f"{device_id} could not connect over TLS on 8883")

    def publish(self, topic: str, payload: bytes) -> None:
        self.mids.append(self.c.publish(topic, payload, qos=1).mid)

    def all_acked(self) -> bool:
        return set(self.mids) <= self.acked

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def reading(device_id: str, seq: int) -> bytes:
    r = m.AirQualityReading(
        device_id=device_id, ts=datetime.now(UTC), seq=seq, pm10=30.0 + seq % 7, pm25=12.0 + seq % 5
    )
    return m.to_json(r)


# -- the rehearsal -------------------------------------------------------------------------------------
def run(keep: bool) -> dict[str, Any]:
    t_start = time.monotonic()
    clean()
    for port in (8080, 8883):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                raise RuntimeError(f"port {port} is taken on this machine; the compose file publishes it")
    images = {"base": build_standin("base", "localhost/debian:bookworm", {})}
    images["python"] = build_standin("python", images["base"], {})
    images["timescaledb"] = build_standin("timescaledb", images["base"], {"EDITION": "tsl"})
    images["mosquitto"] = build_standin("mosquitto", images["base"], {})
    images["prometheus"] = build_standin("prometheus", images["base"], {})
    cw_image = build_citywatch(images["python"])
    in_image = secrets_in_image(cw_image, [CANARY])

    env = {
        "CITYWATCH_ENV": "production",
        "POSTGRES_PASSWORD": "pw/" + secrets.token_urlsafe(12) + "@:%x",  # characters that broke the URL
        "CITYWATCH_DEVICE_SECRET": secrets.token_urlsafe(32),
        "GRAFANA_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        "CITYWATCH_API_TOKEN_SECRET": secrets.token_urlsafe(32),
        "CITYWATCH_API_BOOTSTRAP_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        **{f"CITYWATCH_DB_ROLE_{s.upper()}": f"{s}@/" + secrets.token_urlsafe(12) for s in ROLES},
    }
    workdir = Path(tempfile.mkdtemp(prefix="cw-rehearsal-"))
    prepare(workdir, env)
    c = Compose(workdir, {k: images[k] for k in ("timescaledb", "mosquitto", "prometheus")})
    result: dict[str, Any] = {"edition": None, "images": images}
    try:
        for svc in SERVICES:
            c("up", "-d", "--no-deps", svc)
            if svc in ONE_SHOT:
                wait_completed(c, svc)
            else:
                wait_healthy(c, svc)
        result["edition"] = c.psql("SELECT current_setting('timescaledb.license')")[0][0]
        rows = [r for r in c.containers() if r["service"] in SERVICES]
        result["services_total"] = len(rows)
        ok = {
            r["name"]: (r["state"] == "exited" and r["exit"] == 0)
            if r["service"] in ONE_SHOT
            else (r["state"] == "running" and healthy(r["name"]))
            for r in rows
        }
        result["services_healthy"] = sum(ok.values())
        result["services_unhealthy"] = sorted(n for n, good in ok.items() if not good)
        result.update(check_traffic(c, workdir, env))
        result.update(check_prometheus(c))
        logs = "".join(
            subprocess.run(["podman", "logs", r["name"]], capture_output=True, text=True).stdout
            + subprocess.run(["podman", "logs", r["name"]], capture_output=True, text=True).stderr
            for r in rows
        )
        leaked = [k for k, v in env.items() if k != "CITYWATCH_ENV" and v in logs]
        result["secrets_in_logs"] = leaked
        result["secrets_in_image"] = in_image
        result["log_bytes"] = len(logs)
    finally:
        if keep:
            progress(f"kept: {' '.join(map(str, c.cmd))} (in {workdir})")
        else:
            c("down", "-v", check=False)
            clean()
            shutil.rmtree(workdir, ignore_errors=True)
    result["grafana"] = (
        "not rehearsed: no Grafana server can be built here (dashboards are proven by the tests)"
    )
    result["seconds"] = round(time.monotonic() - t_start, 1)
    return result


def check_traffic(c: Compose, workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    api = httpx.Client(base_url=API, timeout=30)
    token = api.post(
        "/api/v1/auth/token",
        data={"username": "admin", "password": env["CITYWATCH_API_BOOTSTRAP_ADMIN_PASSWORD"]},
    ).json()["access_token"]
    api.headers["Authorization"] = f"Bearer {token}"
    pages = {p: api.get(p).status_code for p in ("/console", "/docs", "/readyz")}
    creds = {}
    for device_id, kind in (("aq-rehearsal", "aq"), ("cam-rehearsal", "cctv")):
        r = api.post(
            "/api/v1/devices", json={"device_id": device_id, "kind": kind, "name": f"rehearsal {kind}"}
        )
        if r.status_code != 201:
            raise RuntimeError(f"registering {device_id}: {r.status_code} {r.text}")
        creds[device_id] = r.json()["password"]
    # the registry changed: new broker files, and the broker reloads them (as README tells operators)
    sh("podman", "start", "-a", c.containers("broker-auth")[0]["name"])
    sh("podman", "kill", "-s", "HUP", c.containers("mosquitto")[0]["name"])
    time.sleep(1)
    ca = workdir / "deploy" / "certs" / "ca.crt"
    aq = Device("aq-rehearsal", creds["aq-rehearsal"], ca)
    cam = Device("cam-rehearsal", creds["cam-rehearsal"], ca)
    topic = topic_for(DeviceKind.AIR_QUALITY, "aq-rehearsal")

    def stored() -> int:
        return int(c.psql("SELECT count(*) FROM air_quality WHERE device_id = 'aq-rehearsal'")[0][0])

    seq = 0
    for _ in range(100):
        aq.publish(topic, reading(aq.device_id, seq))
        seq += 1
    wait(lambda: stored() == 100, 60, "the first 100 readings in TimescaleDB")
    progress("100 readings over TLS stored")

    aq.publish(topic, b'{"v": 1, "device_id": "aq-rehearsal", "broken"')

    def dead() -> int:
        return int(c.psql("SELECT count(*) FROM dead_letters WHERE device_id = 'aq-rehearsal'")[0][0])

    wait(lambda: dead() == 1, 30, "the malformed message in dead_letters")
    progress("malformed message dead-lettered")

    alert_seen = fire(api, cam)
    # who is connected, with every service at work: each as its own role, none as the schema's owner
    users = c.psql(
        "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'citywatch' AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend' ORDER BY 1"
    )

    # restarts while the device keeps publishing
    stop = threading.Event()

    def keep_sending() -> None:
        nonlocal seq
        while not stop.is_set():
            aq.publish(topic, reading(aq.device_id, seq))
            seq += 1
            time.sleep(0.2)  # 5 a second: within ingest's per-device rate limit (10/s)

    sender = threading.Thread(target=keep_sending, daemon=True)
    sender.start()
    restarts = []
    for svc in ("timescaledb", "mosquitto"):
        time.sleep(5)
        progress(f"compose restart {svc} (the device keeps publishing)")
        c("restart", svc)
        wait_healthy(c, svc)
        restarts.append(svc)
    time.sleep(5)
    stop.set()
    sender.join()
    wait(aq.all_acked, 120, "the broker to acknowledge every reading")
    sent = seq
    wait(lambda: stored() >= sent, 180, f"{sent} readings in TimescaleDB", every=2)
    time.sleep(3)  # (a late double would show now)
    total, distinct = (int(x) for x in c.psql(
        "SELECT count(*), count(DISTINCT seq) FROM air_quality WHERE device_id = 'aq-rehearsal'")[0])  # fmt: skip
    counters = [int(x) for x in c.psql(
        "SELECT sum(received), sum(written), sum(duplicates), sum(dead_lettered) FROM ingest_counters")[0]]  # fmt: skip
    aq.close()
    cam.close()
    progress(f"{sent} sent, {total} stored ({distinct} distinct) across the restarts")
    return {
        "pages": pages,
        "sent": sent,
        "stored": total,
        "dead_lettered": dead(),
        "lost": sent - distinct,
        "duplicated": total - distinct,
        "ingest_accounting_exact": counters[0] == counters[1] + counters[2] + counters[3],
        "restarted": restarts,
        "alert_seen": alert_seen,
        "db_users": [u[0] for u in users],
    }


def fire(api: httpx.Client, cam: Device) -> dict[str, bool]:
    """A camera sees fire: the API must list the alert and its live stream deliver it."""
    got: list[dict[str, Any]] = []
    opened = threading.Event()

    def listen() -> None:
        with (
            httpx.Client(base_url=API, timeout=None, headers=dict(api.headers)) as s,
            s.stream("GET", "/api/v1/alerts/stream") as r,
        ):
            opened.set()
            event = ""
            for line in r.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event:
                    got.append({"event": event, **json.loads(line.split(":", 1)[1])})
                    if any(g.get("rule") == "cctv.fire" for g in got):
                        return

    threading.Thread(target=listen, daemon=True).start()
    opened.wait(10)
    time.sleep(0.5)
    ev = m.CctvEvent(
        device_id=cam.device_id, ts=datetime.now(UTC), seq=0, event_id=f"fire-{secrets.token_hex(4)}", confidence=0.96,
        event_type=m.CctvEventType.FIRE, object_class=m.ObjectClass.FIRE,
        bbox=m.BoundingBox(x=0.2, y=0.2, w=0.2, h=0.2), zone="rehearsal",
    )  # fmt: skip
    cam.publish(topic_for(DeviceKind.CCTV, cam.device_id), m.to_json(ev))
    listed = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (listed and any(g.get("rule") == "cctv.fire" for g in got)):
        items = api.get("/api/v1/alerts", params={"state": "open"}).json().get("items", [])
        listed = any(a.get("rule") == "cctv.fire" and a.get("subject") == cam.device_id for a in items)
        time.sleep(1)
    streamed = any(g.get("rule") == "cctv.fire" for g in got)
    progress(f"fire alert: listed by the API {listed}, delivered by the stream {streamed}")
    return {"listed": listed, "streamed": streamed}


def check_prometheus(c: Compose) -> dict[str, Any]:
    def targets() -> list[dict[str, Any]]:
        out = c.exec("prometheus", "wget", "-q", "-O", "-", "http://127.0.0.1:9090/api/v1/targets")
        return list(json.loads(out)["data"]["activeTargets"])

    def up() -> dict[str, int]:
        n: dict[str, int] = {}
        for t in targets():
            if t["health"] == "up":
                n[t["labels"]["job"]] = n.get(t["labels"]["job"], 0) + 1
        return n

    try:
        wait(
            lambda: all(up().get(j, 0) >= k for j, k in JOBS.items()),
            120,
            "Prometheus to scrape every service",
            3,
        )
    except RuntimeError as e:
        progress(str(e))
    by_job = up()
    progress(f"Prometheus targets up: {by_job}")
    return {
        "metrics_targets_up": sum(by_job.get(j, 0) for j in JOBS),
        "metrics_targets_total": sum(JOBS.values()),
        "metrics_targets_by_job": by_job,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--keep", action="store_true", help="leave the containers running (and their directory)")
    a = ap.parse_args()
    if not (UPSTREAM / "timescaledb-2.19.3.tar.gz").exists():
        msg = f"rehearsal skipped: no upstream sources at {UPSTREAM} (they come with ../shared/upstream)"
        print(msg, file=sys.stderr)
        print(json.dumps({"skipped": msg}))
        return 0
    result = run(a.keep)
    print(json.dumps(result))
    ok = (
        result["services_healthy"] == result["services_total"]
        and result["lost"] == 0
        and result["duplicated"] == 0
        and result["dead_lettered"] == 1
        and result["sent"] == result["stored"]
        and result["ingest_accounting_exact"]
        and all(result["alert_seen"].values())
        and result["metrics_targets_up"] == result["metrics_targets_total"]
        and all(code == 200 for code in result["pages"].values())
        and result["edition"] == "timescale"
        and result["db_users"] == sorted(f"citywatch_{s}" for s in ROLES if s != "grafana")
        and not result["secrets_in_logs"]
        and not result["secrets_in_image"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
