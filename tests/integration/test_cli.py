"""The command line against real services: simulate (backfill) -> ingest."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support import ALL_TABLES, SECRET, Platform, wait_for


def test_simulate_backfill_through_ingest(platform: Platform, run_ingest, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "CITYWATCH_DB_URL": platform.db_url,
        "CITYWATCH_MQTT_PORT": str(platform.broker.port),
        "CITYWATCH_DEVICE_SECRET": SECRET,
    }
    labels = tmp_path / "labels.jsonl"
    with run_ingest(platform.settings()):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "tools",
                "simulate",
                "--seed",
                "1",
                "--backfill-days",
                "0.05",
                "--mode",
                "gateway",
                "--faults",
                "1",
                "--labels",
                str(labels),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        sent = sum(result["sent"].values())
        assert wait_for(
            lambda: platform.count("SELECT coalesce(sum(received), 0) FROM ingest_counters") >= sent, 60
        ), (platform.count("SELECT coalesce(sum(received), 0) FROM ingest_counters"), sent)
    assert "simulating 140 devices" in out.stderr  # progress for the operator
    rows = platform.stored(ALL_TABLES)
    dead = int(platform.scalar("SELECT count(*) FROM dead_letters"))  # type: ignore[call-overload]
    dups = int(platform.scalar("SELECT sum(duplicates) FROM ingest_counters"))  # type: ignore[call-overload]
    assert rows + dead + dups == sent
    kinds = {json.loads(line)["kind"] for line in labels.read_text().splitlines() if '"fault"' in line}
    assert {"stuck", "spike", "drift", "dropout", "offline", "malformed", "duplicate", "outage"} == kinds


def test_a_failing_command_prints_no_secret() -> None:
    """A crash's traceback must not show the settings it held (the database URL carries its password)."""
    from tools.localservices import free_port

    env = {
        **os.environ,
        "CITYWATCH_DB_URL": f"postgresql://citywatch@127.0.0.1:{free_port()}/citywatch",
        "CITYWATCH_DB_PASSWORD": "pw-that-must-not-show-42",
        "CITYWATCH_DEVICE_SECRET": "device-secret-that-must-not-show-42",
    }
    out = subprocess.run(
        [sys.executable, "-m", "tools", "db", "migrate", "--wait", "0"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "OperationalError" in text  # it failed, and said why
    assert "must-not-show" not in text
