"""One typed settings object, read from ``CITYWATCH_*`` environment variables.

Build it in ``main()`` (or an app's lifespan) and pass it down; nothing here
runs at import time. Every field is documented in README.md (a test checks).
Every variable may instead name a file holding its value, ``<VARIABLE>_FILE``
(the official images' convention for secrets: Docker/Compose secrets).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from citywatch import i18n, localtime

DEV_SECRET = "citywatch-dev-secret-change-me"
DEV_API_SECRET = "citywatch-dev-api-secret-change-me"


class FileValues(PydanticBaseSettingsSource):
    """``<VARIABLE>_FILE``: the variable's value is that file's content, without its final newline. Setting
    both the variable and its ``_FILE`` is refused, as the official images refuse it."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # values come from __call__

    def __call__(self) -> dict[str, Any]:
        prefix = str(self.config.get("env_prefix", "")).upper()
        out: dict[str, Any] = {}
        for name in self.settings_cls.model_fields:
            var = f"{prefix}{name.upper()}"
            path = os.environ.get(f"{var}_FILE")
            if not path:
                continue
            if os.environ.get(var):  # (empty: unset)
                raise ValueError(f"both {var} and {var}_FILE are set; set one")
            try:
                out[name] = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as e:
                raise ValueError(f"{var}_FILE={path}: {e.strerror or e}") from None
        return out


class EnvSettings(BaseSettings):
    """Settings from the environment, each variable also from a file (``_FILE``). A variable set to the
    empty string is unset (its default), as compose files pass ``${VAR:-}``."""

    model_config = SettingsConfigDict(env_ignore_empty=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, FileValues(settings_cls), dotenv_settings, file_secret_settings


class DatabaseSettings(EnvSettings):
    model_config = SettingsConfigDict(env_prefix="CITYWATCH_DB_", extra="ignore")

    url: str = Field("postgresql://citywatch@127.0.0.1:55432/citywatch", description="libpq connection URL")
    password: SecretStr | None = Field(
        None,
        description="the password, apart from the URL (any characters; it is percent-encoded into it)",
    )

    @model_validator(mode="after")
    def _password_into_url(self) -> DatabaseSettings:
        if self.password is not None:
            parts = urlsplit(self.url)
            if parts.password is not None:
                raise ValueError("CITYWATCH_DB_URL has a password and CITYWATCH_DB_PASSWORD is set; set one")
            host = parts.netloc.rpartition("@")[2]
            user = parts.username or ""
            secret = quote(self.password.get_secret_value(), safe="")
            self.url = urlunsplit(parts._replace(netloc=f"{user}:{secret}@{host}"))
            self.password = None
        return self


class DatabaseRolesSettings(EnvSettings):
    """Passwords of the services' database roles, set by `citywatch db migrate` (the schema's owner); a
    role without one cannot log in."""

    model_config = SettingsConfigDict(env_prefix="CITYWATCH_DB_ROLE_", extra="ignore")

    ingest: SecretStr | None = Field(None, description="password of `citywatch_ingest`")
    analytics: SecretStr | None = Field(None, description="password of `citywatch_analytics`")
    api: SecretStr | None = Field(None, description="password of `citywatch_api`")
    boarding: SecretStr | None = Field(None, description="password of `citywatch_boarding`")
    grafana: SecretStr | None = Field(None, description="password of `citywatch_grafana` (read-only)")

    def passwords(self) -> dict[str, str]:
        return {k: v.get_secret_value() for k, v in self if isinstance(v, SecretStr)}


class MqttSettings(EnvSettings):
    model_config = SettingsConfigDict(env_prefix="CITYWATCH_MQTT_", extra="ignore")

    host: str = Field("127.0.0.1", description="broker host")
    port: int = Field(51883, description="broker port")
    tls_port: int | None = Field(
        58883,
        description="`make up`'s TLS listener for devices (local CA in .citywatch/mosquitto/tls); unset: none",
    )
    username: str = Field("citywatch-ingest", description="account of this service on the broker")
    password: SecretStr | None = Field(
        None, description="its password; derived from the device secret when unset"
    )
    keepalive_s: int = Field(30, description="MQTT keepalive")
    tls_ca: Path | None = Field(
        None,
        description="CA certificate to verify the broker by; when set, the services connect with TLS 1.2+ "
        "(point host and port at the TLS listener)",
    )


class IngestSettings(EnvSettings):
    model_config = SettingsConfigDict(env_prefix="CITYWATCH_INGEST_", extra="ignore")

    client_id: str = Field(
        "citywatch-ingest-1", description="MQTT client id; the persistent session is keyed on it"
    )
    shared_group: str | None = Field(
        None, description="when set, subscribe through $share/<group>/ so several workers split the load"
    )
    batch_max_rows: int = Field(5000, ge=1, description="flush a batch at this many messages")
    batch_max_wait_s: float = Field(0.2, gt=0, description="or when its oldest message is this old")
    receive_maximum: int = Field(
        20000, ge=1, le=65535, description="unacknowledged messages the broker may have in flight to ingest"
    )
    session_expiry_s: int = Field(
        7 * 86400,
        ge=0,
        description="how long the broker keeps ingest's session (and its queue) while ingest is away",
    )
    max_payload_bytes: int = Field(65536, ge=64, description="larger payloads are dead-lettered")
    max_future_s: float = Field(
        300.0, ge=0, description="device timestamps further ahead than this are rejected"
    )
    max_past_s: float = Field(
        35 * 86400.0,
        ge=0,
        description="device timestamps older than this are rejected (allows a 30-day backfill)",
    )
    registry_refresh_s: float = Field(30.0, gt=0, description="how often the device registry is reloaded")
    device_rate_per_s: float = Field(
        10.0,
        ge=0,
        description="readings a second one device may send on average, by its own clock; "
        "beyond it readings are dead-lettered as rate_limited (0: no limit)",
    )
    device_burst: int = Field(100, ge=1, description="readings one device may send at once")
    metrics_port: int | None = Field(9108, description="Prometheus metrics port; unset to disable")


class AnalyticsSettings(EnvSettings):
    model_config = SettingsConfigDict(env_prefix="CITYWATCH_ANALYTICS_", extra="ignore")

    poll_s: float = Field(2.0, gt=0, description="how often new data is evaluated")
    lateness_s: float = Field(
        90.0, ge=0, description="minutes are evaluated once this much later than their end"
    )
    offline_factor: float = Field(
        3.0, gt=1, description="a device is offline after this many missed intervals"
    )
    offline_min_s: float = Field(300.0, ge=0, description="…and at least this long without data")
    escalate_after_s: float = Field(
        600.0, gt=0, description="critical alerts unacknowledged this long escalate"
    )
    reopen_window_s: float = Field(
        900.0, ge=0, description="a recurrence within this re-opens the resolved alert"
    )
    rules_file: Path | None = Field(
        None, description="YAML rules file (default: the packaged analytics/rules.yaml)"
    )
    broker_log_file: Path | None = Field(
        None,
        description="Mosquitto's log file, read for the publishes its ACL refused (device.publish_refused):"
        " Mosquitto logs them at its debug level only (`log_type debug`), which it never puts on $SYS topics;"
        " unset: not read",
    )
    webhooks: str = Field(
        "",
        description="comma-separated URLs that receive alert notifications (POST JSON); which ones: the rules"
        " file's notifications section (by default warning and critical)",
    )
    webhook_secret: SecretStr | None = Field(None, description="signs webhook bodies (X-Citywatch-Signature)")

    @property
    def webhook_urls(self) -> list[str]:
        return [u for u in (u.strip() for u in self.webhooks.split(",")) if u]

    partitioned: bool = Field(
        False,
        description="run as one of several workers that share the city's zones (leases); off: one active"
        " instance, others stand by",
    )
    metrics_port: int | None = Field(
        9109,
        description="Prometheus metrics port (an instance that finds it taken runs without); unset to disable",
    )


class PrivacySettings(EnvSettings):
    model_config = SettingsConfigDict(env_prefix="CITYWATCH_PRIVACY_", extra="ignore")

    plate_retention_h: float = Field(
        72.0,
        gt=0,
        description="licence plates read by CCTV analytics are erased from their events after this",
    )
    cctv_retention_days: int = Field(
        90, ge=1, description="CCTV event metadata (without plates) is dropped after this many days"
    )


class BoardingSettings(EnvSettings):
    model_config = SettingsConfigDict(env_prefix="CITYWATCH_BOARDING_", extra="ignore")

    gtfs: Path | None = Field(
        None,
        description="GTFS feed (zip or directory) used until one is uploaded (PUT /api/v1/transit/feed);"
        " default: <data dir>/gtfs.zip",
    )
    feed_check_s: float = Field(30.0, gt=0, description="how often the bell looks for a newly uploaded feed")
    request_ttl_s: float = Field(1800.0, gt=0, description="requests expire after this long")
    resend_s: float = Field(20.0, gt=0, description="an unacknowledged driver alert is sent again after this")
    escalate_s: float = Field(60.0, gt=0, description="…and reported to the control centre after this")
    metrics_port: int | None = Field(9111, description="Prometheus metrics port; unset to disable")


class ApiSettings(EnvSettings):
    model_config = SettingsConfigDict(env_prefix="CITYWATCH_API_", extra="ignore")

    host: str = Field("127.0.0.1", description="address the control-centre API listens on")
    port: int = Field(8080, description="its port")
    token_secret: SecretStr = Field(
        SecretStr(DEV_API_SECRET), description="key that signs operators' access tokens (HS256)"
    )
    token_ttl_s: int = Field(8 * 3600, gt=0, description="access tokens last this long (one shift)")
    login_rate: str = Field(
        "10/minute",
        description="failed logins allowed per account from one address in the window (an account from "
        "anywhere: 5 times as many; one address, whatever the accounts: 20 times), counted in the database "
        "across every API worker",
    )
    bootstrap_admin_password: SecretStr | None = Field(
        None, description="when set and no user exists yet, an `admin` account with this password is created"
    )
    max_points: int = Field(5000, ge=10, description="most points one time-series request may return")
    max_range_days: int = Field(400, ge=1, description="longest time range one request may cover")
    max_export_rows: int = Field(1_000_000, ge=1, description="most rows one CSV export may stream")
    pool_max: int = Field(16, ge=2, description="database connections the API may hold")
    workers: int = Field(1, ge=1, description="uvicorn worker processes for `citywatch api`")
    cors_origins: str = Field(
        "", description="comma-separated origins allowed to call the API from a browser"
    )
    metrics_port: int | None = Field(
        9110,
        description="Prometheus metrics port, apart from the API's (a worker that finds it taken runs without);"
        " unset to disable",
    )


class Settings(EnvSettings):
    """Settings shared by every citywatch service."""

    model_config = SettingsConfigDict(env_prefix="CITYWATCH_", extra="ignore")

    env: str = Field("development", description="development | production")
    data_dir: Path = Field(
        Path(".citywatch"), description="where `citywatch up` keeps its database and broker"
    )
    device_secret: SecretStr = Field(
        SecretStr(DEV_SECRET), description="key from which per-device broker passwords are derived"
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="address every service's Prometheus metrics endpoint listens on (0.0.0.0 in containers)",
    )
    timezone: str = Field(
        localtime.DEFAULT,
        description="the city's time zone (IANA name): local hours for baselines, parking, night, reports",
    )
    language: str = Field(
        i18n.DEFAULT,
        description="the city's language (ko or en): what people read where they have chosen none (their "
        "account's choice or their browser's languages come first)",
    )
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    db_roles: DatabaseRolesSettings = Field(default_factory=DatabaseRolesSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    boarding: BoardingSettings = Field(default_factory=BoardingSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        localtime.zone(v)
        return v

    @field_validator("language")
    @classmethod
    def _known_language(cls, v: str) -> str:
        return i18n.known(v)

    @property
    def tz(self) -> ZoneInfo:
        return localtime.zone(self.timezone)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.env == "production" and self.device_secret.get_secret_value() == DEV_SECRET:
            raise ValueError("CITYWATCH_DEVICE_SECRET must be set to a real secret in production")
        if self.env == "production" and self.api.token_secret.get_secret_value() == DEV_API_SECRET:
            raise ValueError("CITYWATCH_API_TOKEN_SECRET must be set to a real secret in production")
        return self
