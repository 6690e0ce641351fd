"""The control-centre API (FastAPI): ``create_app(settings)`` builds it; ``serve`` runs it with uvicorn."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import uvicorn
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from analytics.config import RulesFile
from api import catalogue, problems
from api.db import Database
from api.deps import ApiState
from api.login_limit import LoginLimiter
from api.metrics import ApiMetrics, RequestTimer
from api.names import PlaceNames
from api.routes import (
    airkorea,
    alerts,
    auth,
    buses,
    cctv,
    devices,
    driver,
    gtfs_rt,
    i18n,
    maintenance,
    ngsi,
    onboarding,
    places,
    platform,
    telemetry,
)
from api.routes import rules as rules_view
from api.security import hash_password
from api.stream import AlertFeed
from api.terminal import TerminalRelay
from citywatch import logs, metrics
from citywatch.settings import Settings

log = logging.getLogger("citywatch.api")

DESCRIPTION = """
The citywatch control-centre API: devices, telemetry, air quality, parking,
CCTV analytics, buses and the boarding bell, alerts (with a live stream), and
platform health.

**Authentication**: operators log in at `POST /api/v1/auth/token` (OAuth2
password flow) and send `Authorization: Bearer <token>`; services send an API
key (`Authorization: Bearer cwk_…` or `X-API-Key`). Roles: *viewer* reads,
*operator* also works alerts, *admin* also manages users, devices and keys.

**Errors** are RFC 9457 problem documents (`application/problem+json`).

**Neighbouring cities** read parking and air quality as FIWARE Smart Data
Models (NGSI-LD) under `/ngsi-ld/v1/entities`; journey planners and the
province's bus information system read the buses' positions and the stops whose
boarding bell is out of order as GTFS Realtime under `/gtfs-rt`; Korean displays
and apps written against AirKorea's open API read the city's stations under
`/B552584/ArpltnInforInqireSvc`.
"""

TAGS = [
    {"name": "auth", "description": "log in; who am I"},
    {"name": "admin", "description": "users, API keys, device registration (admin)"},
    {"name": "devices", "description": "the device registry, online state and loss figures"},
    {"name": "telemetry", "description": "latest values, downsampled series, CSV export"},
    {"name": "air quality", "description": "CAI per station, advisories (주의보/경보)"},
    {"name": "parking", "description": "lots and spaces"},
    {"name": "cctv", "description": "video-analytics events"},
    {"name": "buses", "description": "live buses and the boarding bell"},
    {
        "name": "alerts",
        "description": "triage: list, detail, acknowledge, assign, comment, resolve; live stream;"
        " maintenance windows that mute a device's or a zone's alerts",
    },
    {"name": "platform", "description": "ingest health, dead letters, liveness, readiness"},
    {"name": "NGSI-LD", "description": "FIWARE Smart Data Models for neighbouring cities"},
    {"name": "GTFS Realtime", "description": "bus positions and boarding-bell alerts for journey planners"},
    {
        "name": "AirKorea",
        "description": "the city's stations as AirKorea's open API answers (측정소별 실시간 측정정보)",
    },
    {
        "name": "driver terminal",
        "description": "a bus's on-board screen: signs in as the bus, sees only its bus",
    },
]


def bootstrap_admin(db: Database, settings: Settings) -> None:
    pw = settings.api.bootstrap_admin_password
    if pw is None:
        return
    row = db.one("SELECT count(*) AS n FROM api_users")
    if row and row["n"] == 0:
        db.one(
            "INSERT INTO api_users (username, full_name, password_hash, role) VALUES ('admin', 'Administrator', %s,"
            " 'admin') ON CONFLICT DO NOTHING RETURNING 1",
            (hash_password(pw.get_secret_value()),),
        )
        log.info("created the first account: admin (password from CITYWATCH_API_BOOTSTRAP_ADMIN_PASSWORD)")


def create_app(settings: Settings) -> FastAPI:
    db = Database(settings.db.url, settings.api.pool_max)
    feed = AlertFeed(db)
    rules = RulesFile(settings.analytics.rules_file).rules
    terminals = TerminalRelay(settings)
    figures = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db.open()
        try:
            bootstrap_admin(db, settings)
        except psycopg.Error as e:
            log.warning("could not check the first account: %s", e)
        await feed.start()
        terminals.start()
        exporter = metrics.serve(figures.registry, settings.metrics_host, settings.api.metrics_port, "api")
        log.info("API ready on the database %s", settings.db.url.rsplit("@", 1)[-1])
        try:
            yield
        finally:
            metrics.stop(exporter)
            terminals.stop()
            await feed.stop()
            db.close()

    app = FastAPI(
        title="citywatch control-centre API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
        docs_url=None,  # served by pages() from the package's own assets: no CDN
        redoc_url=None,
    )
    app.state.citywatch = ApiState(
        settings,
        db,
        LoginLimiter(settings.api.login_rate, db),
        feed,
        rules,
        terminals,
        figures,
        PlaceNames(db, settings.tz),
    )
    problems.install(app)
    app.add_middleware(RequestTimer, m=figures)
    if origins := [o.strip() for o in settings.api.cors_origins.split(",") if o.strip()]:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["*"],
            allow_headers=["*"],
            allow_credentials=False,
        )
    for r in (
        auth,
        i18n,
        devices,
        telemetry,
        places,
        cctv,
        buses,
        alerts,
        maintenance,
        rules_view,
        platform,
        driver,
        onboarding,
    ):
        app.include_router(r.router, prefix="/api/v1")
    catalogue.messages()  # the pages' catalogue with a key missing in a language stops the start, naming it
    app.include_router(platform.health)
    app.include_router(ngsi.router)
    app.include_router(gtfs_rt.router)
    app.include_router(airkorea.router)
    pages(app)
    return app


WEB = Path(__file__).resolve().parent / "web"
#: the pages load nothing from elsewhere (control rooms are often offline)
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def pages(app: FastAPI) -> None:
    """The operator console (``/console``), served with its assets from ``api/web``; and the API's
    documentation (``/docs``: Swagger UI, ``/redoc``: ReDoc) from the copies vendored there
    (``api/web/vendor``), so it reads offline too."""
    app.mount("/web", StaticFiles(directory=WEB), name="web")
    vendor, spec = "/web/vendor", app.openapi_url or "/openapi.json"
    icon = f"{vendor}/swagger-ui/favicon-32x32.png"
    swagger = get_swagger_ui_html(
        openapi_url=spec,
        title=f"{app.title} — Swagger UI",
        swagger_js_url=f"{vendor}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{vendor}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=icon,
    )
    redoc = get_redoc_html(
        openapi_url=spec,
        title=f"{app.title} — ReDoc",
        redoc_js_url=f"{vendor}/redoc/redoc.standalone.js",
        redoc_favicon_url=icon,
        with_google_fonts=False,
    )
    app.add_api_route("/docs", lambda: swagger, include_in_schema=False, response_class=HTMLResponse)
    app.add_api_route("/redoc", lambda: redoc, include_in_schema=False, response_class=HTMLResponse)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console")

    @app.get("/console", include_in_schema=False)
    def console() -> FileResponse:
        return FileResponse(WEB / "console.html", headers=PAGE_HEADERS)

    @app.get("/driver/{bus}", include_in_schema=False)
    def terminal(bus: str) -> FileResponse:
        return FileResponse(WEB / "driver.html", headers=PAGE_HEADERS)


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: settings from the environment (a worker process sets up its logging)."""
    logs.setup()
    return create_app(Settings())


def serve(settings: Settings) -> None:
    """Run the API (blocking); ``CITYWATCH_API_WORKERS`` > 1 runs several processes on one port."""
    uvicorn.run(
        "api.app:app_from_env",
        factory=True,
        host=settings.api.host,
        port=settings.api.port,
        workers=settings.api.workers,
        log_level="info",
        log_config=None,  # uvicorn's lines go through citywatch's logging (text or JSON lines)
        access_log=False,
        proxy_headers=True,
    )


class ApiServer:
    """The API in a thread of another process (``citywatch up``, the tests)."""

    def __init__(self, settings: Settings) -> None:
        self.thread: threading.Thread | None = None
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings),
                host=settings.api.host,
                port=settings.api.port,
                log_level="warning",
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=2,  # live streams never end by themselves
            )
        )

    def run(self) -> None:
        self.server.run()

    def stop(self) -> None:
        self.server.should_exit = True

    @property
    def started(self) -> bool:
        return bool(self.server.started)
