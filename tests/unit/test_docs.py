"""README.md stays true: every setting, topic, payload field, dead-letter reason
and command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from citywatch.contracts import messages as m
from citywatch.contracts.topics import DeviceKind, Stream
from citywatch.settings import (
    AnalyticsSettings,
    ApiSettings,
    BoardingSettings,
    DatabaseRolesSettings,
    DatabaseSettings,
    IngestSettings,
    MqttSettings,
    PrivacySettings,
    Settings,
)
from ingest.decode import Reason
from tools.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ )", README, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


SETTINGS: list[tuple[type[BaseSettings], str]] = [
    (Settings, "CITYWATCH_"),
    (DatabaseSettings, "CITYWATCH_DB_"),
    (DatabaseRolesSettings, "CITYWATCH_DB_ROLE_"),
    (MqttSettings, "CITYWATCH_MQTT_"),
    (IngestSettings, "CITYWATCH_INGEST_"),
    (AnalyticsSettings, "CITYWATCH_ANALYTICS_"),
    (BoardingSettings, "CITYWATCH_BOARDING_"),
    (ApiSettings, "CITYWATCH_API_"),
    (PrivacySettings, "CITYWATCH_PRIVACY_"),
]


@pytest.mark.parametrize(
    "env",
    [
        f"{prefix}{name.upper()}"
        for cls, prefix in SETTINGS
        for name, f in cls.model_fields.items()
        # (a section of its own is documented field by field)
        if not (isinstance(f.annotation, type) and issubclass(f.annotation, BaseSettings))
    ],
)
def test_every_setting_is_documented(env: str) -> None:
    assert f"`{env}`" in section("Settings")


@pytest.mark.parametrize(
    "model",
    [
        m.AirQualityReading,
        m.ParkingSpaceState,
        m.CctvEvent,
        m.BusPosition,
        m.StopRequest,
        m.DeviceStatus,
        m.DriverAck,
    ],
    ids=lambda c: c.__name__,
)
def test_every_payload_field_is_documented(model: type[m._Payload]) -> None:
    text = section(model.__name__)
    base = set(m.Telemetry.model_fields) | set(m.DeviceStatus.model_fields) - {"status", "reason"}
    for field in set(model.model_fields) - base:
        assert f"`{field}`" in text, f"{model.__name__}.{field} is not in README"


def test_every_topic_is_documented() -> None:
    text = section("Topics and payloads")
    for kind in DeviceKind:
        assert f"cw/v1/{kind.value}/" in text
    for stream in Stream:
        assert f"/{stream.value}`" in text


def test_every_event_type_is_documented() -> None:
    for t in m.CctvEventType:
        assert f"`{t.value}`" in section("CctvEvent")


@pytest.mark.parametrize("reason", list(Reason), ids=lambda r: r.value)
def test_every_dead_letter_reason_is_documented(reason: Reason) -> None:
    assert f"`{reason.value}`" in section("Dead-letter reasons")


def test_every_command_is_documented() -> None:
    text = section("Command line")
    for cmd in app.registered_commands:
        assert f"citywatch {cmd.name or cmd.callback.__name__}" in text  # type: ignore[union-attr]
    for group in app.registered_groups:
        assert f"citywatch {group.name}" in text or f"`{group.name} " in text


def test_the_two_commands_and_ci() -> None:
    assert "make up" in README and "make test" in README
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_production_refuses_the_placeholder_secret() -> None:
    with pytest.raises(ValueError, match="CITYWATCH_DEVICE_SECRET"):
        Settings(env="production")
    with pytest.raises(ValueError, match="CITYWATCH_API_TOKEN_SECRET"):
        Settings(env="production", device_secret="a-real-secret")  # type: ignore[arg-type]
    real = Settings(
        env="production", device_secret="a-real-secret", api=ApiSettings(token_secret="another-real-secret")
    )  # type: ignore[arg-type]
    assert real.env == "production"


def test_every_api_route_is_documented() -> None:
    from api.app import create_app

    text = section("Control-centre API")
    for path, ops in create_app(Settings()).openapi()["paths"].items():
        for method in ops:
            assert f"`{method.upper()} {path}`" in text, f"{method.upper()} {path} is not in README"
