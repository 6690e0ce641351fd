"""Private PostgreSQL+TimescaleDB and Mosquitto servers on the project's own
data directory and ports: used by `citywatch up` and by the test harness.

PostgreSQL refuses to run as root, so when we are root the cluster is owned by
and run as the ``postgres`` user (``runuser``). Neither server touches the
machine's own instances on the standard ports.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from citywatch import broker
from citywatch.tls import TlsFiles, make_local_ca

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bindir() -> Path:
    """``CITYWATCH_PG_BINDIR`` where set (another PostgreSQL tree, e.g. the Timescale License edition's from
    scripts/install-timescaledb-tsl.sh), else the machine's PostgreSQL 15 (Debian's Apache-2 TimescaleDB)."""
    if env := os.environ.get("CITYWATCH_PG_BINDIR"):
        return Path(env)
    for cand in ("/usr/lib/postgresql/15/bin",):
        if Path(cand, "initdb").exists():
            return Path(cand)
    out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _chown_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip() or res.stdout.strip()}"
        )


def _make_traversable(path: Path) -> None:
    """Let the postgres user reach a data directory below ``path`` (e.g. a 0700 temp dir)."""
    for p in [path, *path.parents]:
        st = p.stat()
        if st.st_uid == os.geteuid() and not st.st_mode & 0o001:
            p.chmod(st.st_mode | 0o011)


def _wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class PostgresServer:
    """A PostgreSQL 15 cluster with TimescaleDB preloaded."""

    data_dir: Path
    port: int
    database: str = "citywatch"
    user: str = "citywatch"
    durable: bool = True  # fsync on; tests turn it off for speed
    extra_conf: dict[str, str] = field(default_factory=dict)
    bindir: Path = field(default_factory=pg_bindir)

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def init(self) -> None:
        pgdata = self._pgdata()
        if (pgdata / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _chown_postgres(self.data_dir)
        if os.geteuid() == 0:
            _make_traversable(self.data_dir.parent)
        _run(
            _as_postgres(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        )
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.data_dir}'",
            "shared_preload_libraries": "'timescaledb'",
            "timescaledb.telemetry_level": "off",
            "max_connections": "200",
            "shared_buffers": "256MB",
            "synchronous_commit": "on" if self.durable else "off",
            "fsync": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
            "log_min_messages": "warning",
            "timezone": "'UTC'",
            **self.extra_conf,
        }
        with (pgdata / "postgresql.auto.conf").open("a") as f:
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")

    def start(self, timeout: float = 60) -> None:
        self.init()
        if self.is_running():
            return
        logfile = self.data_dir / "postgres.log"
        if not logfile.exists():
            logfile.touch()
            _chown_postgres(logfile)
        _run(
            _as_postgres(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self._pgdata()),
                    "-l",
                    str(logfile),
                    "-o",
                    f"-p {self.port}",
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "start",
                ]
            )
        )
        self._bootstrap()

    def is_running(self) -> bool:
        res = subprocess.run(
            _as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self._pgdata()), "status"]),
            capture_output=True,
        )
        return res.returncode == 0

    def _bootstrap(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (self.user,)).fetchone():
                conn.execute(f'CREATE ROLE "{self.user}" LOGIN SUPERUSER')
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone():
                conn.execute(f'CREATE DATABASE "{self.database}" OWNER "{self.user}"')

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{self.user}"')
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if (self._pgdata() / "PG_VERSION").exists():
            subprocess.run(
                _as_postgres(
                    [str(self.bindir / "pg_ctl"), "-D", str(self._pgdata()), "-m", "fast", "-w", "stop"]
                ),
                capture_output=True,
            )


@dataclass
class MosquittoBroker:
    """A Mosquitto 2 broker with generated password file and ACL."""

    data_dir: Path
    port: int
    secret: str
    limits: broker.BrokerLimits = field(default_factory=broker.BrokerLimits)
    proc: subprocess.Popen[bytes] | None = None
    tls_port: int | None = None  # a TLS listener too, with a local CA (citywatch.tls) in data_dir/tls
    tls: TlsFiles | None = None
    debug_log: bool = (
        False  # Mosquitto's debug level: the publishes its ACL refused are logged (and all else)
    )

    def write_config(self, devices: list[broker.DeviceAccount]) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        run_as = "root" if os.geteuid() == 0 else None
        if self.tls_port is not None and self.tls is None:
            self.tls = make_local_ca(self.data_dir / "tls")
        (self.data_dir / "mosquitto.conf").write_text(
            broker.mosquitto_conf(
                port=self.port,
                data_dir=self.data_dir,
                limits=self.limits,
                run_as=run_as,
                tls_port=self.tls_port,
                tls=self.tls,
                debug_log=self.debug_log,
            )
        )
        self.write_auth(devices)

    def write_auth(self, devices: list[broker.DeviceAccount]) -> None:
        broker.write_auth_files(self.data_dir, self.secret, devices)

    def reload(self) -> None:
        """Re-read password file and ACL (SIGHUP)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)

    def start(self, timeout: float = 10) -> None:
        if self.proc and self.proc.poll() is None:
            return
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen(
            [binary, "-c", str(self.data_dir / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C on the terminal must not kill it before we flush
        )
        try:
            _wait_port(self.port, timeout)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"mosquitto did not start; see {self.data_dir / 'mosquitto.log'}") from None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def running(*servers: PostgresServer | MosquittoBroker) -> Iterator[None]:
    try:
        for s in servers:
            s.start()
        yield
    finally:
        for s in reversed(servers):
            s.stop()
