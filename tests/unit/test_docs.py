"""The documents stay true: every setting, topic, payload field, dead-letter reason, command and API
route is documented in docs/; README.md stays short and points at every document; nothing narrates
how the code came to be."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from citywatch.contracts import messages as m
from citywatch.contracts.topics import DeviceKind, Stream
from citywatch.settings import ApiSettings, Settings
from ingest.decode import Reason
from tests.support import setting_variables
from tools.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
PAGES = {p.name: p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))}
DOCS = "\n".join(PAGES.values()) + "\n# (end)\n"


def section(title: str) -> str:
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ )", DOCS, re.S | re.M)
    assert match, f"docs/ has no section {title!r}"
    return match.group(1)


@pytest.mark.parametrize("env", [env for _cls, _name, env in setting_variables()])
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
    ci = (ROOT / ".ci/run").read_text()
    assert "make test" in ci and "make lint" in ci


def test_the_readme_is_short_and_points_at_every_document() -> None:
    assert len(README.splitlines()) < 200
    for name in PAGES:
        assert f"(docs/{name})" in README, f"README does not point at docs/{name}"


def test_every_link_between_documents_resolves() -> None:
    for name, text in {"README.md": README, **{f"docs/{n}": t for n, t in PAGES.items()}}.items():
        base = ROOT if name == "README.md" else ROOT / "docs"
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", text):
            assert (base / target).exists(), f"{name} links to {target}, which does not exist"


#: words that narrate how the code came to be rather than what it does
NARRATIVE = re.compile(
    r"\b(this|last|previous|next) session\b|\bsession \d+|\bworking period\b|\bwe (added|fixed|changed)\b",
    re.I,
)


def test_no_document_narrates_its_making() -> None:
    for name, text in {"README.md": README, **PAGES}.items():
        found = NARRATIVE.findall(text)
        assert not found, f"{name}: {found}"


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
