"""The production compose file parses, and everything it mounts exists."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from citywatch.broker import BrokerLimits

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, object]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_compose_services_and_mounts() -> None:
    c = compose()
    services = c["services"]
    assert isinstance(services, dict)
    assert {
        "timescaledb", "mosquitto", "grafana", "ingest", "migrate", "broker-auth", "analytics", "boarding", "api",
    } <= set(services)  # fmt: skip
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb:")
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:2")
    assert services["grafana"]["image"].startswith("grafana/")
    named = set(c.get("volumes") or {})  # type: ignore[arg-type]
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith((".", "/")):
                assert (ROOT / src).exists(), f"{name} mounts missing {src}"
            else:
                assert src in named, f"{name} uses undeclared volume {src}"
        if "build" in svc:
            assert (ROOT / svc["build"] / "Dockerfile").exists()
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"


def test_compose_broker_config_matches_the_generated_one() -> None:
    conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    limits = BrokerLimits()
    values = dict(re.findall(r"^(\w+) (\S+)$", conf, re.M))
    assert int(values["max_queued_messages"]) == limits.max_queued_messages
    assert int(values["max_inflight_messages"]) == limits.max_inflight_messages
    assert int(values["max_packet_size"]) == limits.max_packet_size
    assert values["allow_anonymous"] == "false"
    assert values["persistence"] == "true"


def test_grafana_provisioning_is_valid_yaml() -> None:
    for f in (ROOT / "grafana/provisioning").rglob("*.yaml"):
        doc = yaml.safe_load(f.read_text())
        assert doc["apiVersion"] == 1


def test_compose_is_hardened() -> None:
    """Restart policies, health checks where there is something to ask, non-root citywatch services,
    persistent named volumes, secrets only from the (uncommitted) environment file."""
    c = compose()
    services: dict[str, dict[str, object]] = c["services"]  # type: ignore[assignment]
    one_shot = {"migrate", "broker-auth"}
    for name, svc in services.items():
        if name in one_shot:
            assert svc["restart"] == "no", name
        else:
            assert svc.get("restart") in ("unless-stopped", "always"), f"{name} has no restart policy"
        if "build" in svc:
            assert svc.get("user") not in (None, "root", "0", "0:0"), f"{name} runs as root"
    for name in ("timescaledb", "mosquitto", "ingest", "api", "grafana"):
        assert "healthcheck" in services[name], f"{name} has no health check"
    for name, path in (
        ("timescaledb", "/var/lib/postgresql/data"),
        ("mosquitto", "/mosquitto/data"),
        ("grafana", "/var/lib/grafana"),
    ):
        vols = services[name]["volumes"]
        assert any(v.split(":")[1] == path and not v.startswith((".", "/")) for v in vols), name  # type: ignore[union-attr]
    text = (ROOT / "docker-compose.yml").read_text()
    # every secret comes from the environment, and must be set: no literal passwords, no silent defaults
    for secret in (
        "POSTGRES_PASSWORD",
        "CITYWATCH_DEVICE_SECRET",
        "CITYWATCH_API_TOKEN_SECRET",
        "GRAFANA_ADMIN_PASSWORD",
    ):
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
        assert uses and all(u.startswith(":?") for u in uses), secret
    assert not re.search(r"(PASSWORD|SECRET)\w*: +[\"']?[A-Za-z0-9]{6,}", text), "a literal secret in compose"
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert "CITYWATCH_ENV: ${CITYWATCH_ENV:-production}" in text  # placeholder secrets are refused there
