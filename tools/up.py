"""`citywatch up`: the whole platform on this machine, until Ctrl-C.

A private PostgreSQL+TimescaleDB cluster and Mosquitto broker under
``CITYWATCH_DATA_DIR`` on the ports of ``CITYWATCH_DB_URL`` / ``CITYWATCH_MQTT_PORT``,
migrations, the simulated city registered and given broker accounts, the
ingest service, the analytics service (alerts), and the simulators publishing
in real time.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from urllib.parse import urlparse

from pydantic import SecretStr

from alerts.mqtt import AlertPublisher
from analytics.broker_log import BrokerLog
from analytics.service import AnalyticsService
from api.app import ApiServer
from boarding.service import BoardingService, gtfs_path
from citywatch import mqtt
from citywatch.db.schema import migrate_all
from citywatch.devices import RegistryWatcher, broker_accounts
from citywatch.settings import Settings
from ingest.service import IngestService
from simulators.city import build_city
from simulators.gtfs import write_feed
from simulators.provision import register_city
from simulators.run import SimulateOptions, run_simulation
from tools.localservices import MosquittoBroker, PostgresServer

log = logging.getLogger("tools.up")

#: the first admin account's password on a development machine (`make up`)
DEV_ADMIN_PASSWORD = "citywatch-admin"


def up(settings: Settings, sim: SimulateOptions) -> None:
    data = settings.data_dir.resolve()
    url = urlparse(settings.db.url)
    pg = PostgresServer(
        data / "postgres",
        url.port or 5432,
        database=url.path.lstrip("/") or "citywatch",
        user=url.username or "citywatch",
    )
    mq = MosquittoBroker(
        data / "mosquitto",
        settings.mqtt.port,
        settings.device_secret.get_secret_value(),
        tls_port=settings.mqtt.tls_port,
    )
    stop = threading.Event()

    def _stop(signum: int, _f: FrameType | None) -> None:
        log.info("stopping (signal %d)…", signum)
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    # (thread, how to ask it to stop); started in this order, stopped in the reverse one, so that
    # ingest goes last and flushes what the others left in flight
    running: list[tuple[threading.Thread, Callable[[], None]]] = []

    def start(target: Callable[[], None], name: str, stopper: Callable[[], None]) -> None:
        t = threading.Thread(target=target, name=name)
        t.start()
        running.append((t, stopper))

    try:
        pg.start()
        log.info("PostgreSQL+TimescaleDB running: %s (data in %s)", settings.db.url, pg.data_dir)
        migrate_all(settings.db.url)
        city = build_city(sim.seed, sim.scale)
        register_city(settings.db.url, city)
        settings = settings.model_copy(update={"data_dir": data})
        if settings.boarding.gtfs is None:  # the simulated city's own network
            data.mkdir(parents=True, exist_ok=True)
            write_feed(city, gtfs_path(settings))
        mq.write_config(broker_accounts(settings.db.url))
        mq.start()
        log.info(
            "Mosquitto running on %s:%d, and with TLS on %s (devices trust %s); accounts from the device registry",
            settings.mqtt.host,
            mq.port,
            mq.tls_port,
            mq.tls.ca if mq.tls else "-",
        )
        ingest = IngestService(settings)
        start(ingest.run, "ingest", ingest.stop)
        sink = AlertPublisher(mqtt.as_platform(settings, "citywatch-analytics", mq.port))
        broker_log = BrokerLog(
            mqtt.as_platform(settings, "citywatch-analytics-broker-log", mq.port),
            file=settings.analytics.broker_log_file,
        )
        broker_log.start()
        analytics = AnalyticsService(settings, sink=sink, broker_log=broker_log)
        start(analytics.run, "analytics", analytics.stop)
        bell = BoardingService(settings)
        start(bell.run, "boarding", bell.stop)

        def accounts_changed() -> None:
            mq.write_auth(broker_accounts(settings.db.url))
            mq.reload()

        watcher = RegistryWatcher(settings.db.url, accounts_changed)
        start(watcher.run, "registry", watcher.stop)
        if settings.api.bootstrap_admin_password is None and settings.env == "development":
            settings.api.bootstrap_admin_password = SecretStr(DEV_ADMIN_PASSWORD)
        api = ApiServer(settings)
        start(api.run, "api", api.stop)

        def simulate() -> None:
            run_simulation(settings, sim, stop)

        start(simulate, "simulate", stop.set)
        log.info(
            "citywatch is up. API: http://%s:%d/docs (first login: admin / %s) — metrics:"
            " http://127.0.0.1:%s/metrics (ingest), http://127.0.0.1:%s/metrics (analytics) — Ctrl-C to stop.",
            settings.api.host,
            settings.api.port,
            DEV_ADMIN_PASSWORD
            if settings.env == "development"
            else "see CITYWATCH_API_BOOTSTRAP_ADMIN_PASSWORD",
            settings.ingest.metrics_port,
            settings.analytics.metrics_port,
        )
        while not stop.wait(1.0):
            if not all(t.is_alive() for t, _ in running):
                log.error("a service stopped unexpectedly; shutting down")
                break
    finally:
        stop.set()
        for thread, stopper in reversed(running):
            stopper()
            thread.join(30)
        mq.stop()
        pg.stop()
        log.info("citywatch stopped")
