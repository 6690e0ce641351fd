"""The production compose file parses, and everything it mounts exists."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from citywatch.broker import BrokerLimits

ROOT = Path(__file__).resolve().parent.parent


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
