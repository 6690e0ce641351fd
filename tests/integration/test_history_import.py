"""A station's history from a CSV, through `citywatch import-history`: ingest's validation and dead letters
(not MQTT), idempotent, then re-evaluated into hourly indices and alerts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support import SECRET, Platform


def _history(path: Path, hours: int) -> Path:
    lines = ["ts,pm25,pm10,o3,no2,co,so2"]
    for h in range(hours):  # local times (the city's zone), as a Korean station's export has them
        day, hour = divmod(h, 24)
        pm25 = 180 if 40 <= h < 44 else 20 + h % 7  # four hours of a 경보-level episode
        lines.append(f"2026-03-{1 + day:02d}T{hour:02d}:00:00,{pm25},{pm25 * 1.5},0.03,0.02,0.4,0.003")
    lines += [
        "2026-03-01T00:30:00,-5,10,,,,",  # below zero: refused by the contract
        "yesterday,10,10,,,,",  # not a time
        "2026-03-01T01:30:00,abc,10,,,,",  # not a number
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(platform: Platform, *args: str) -> tuple[dict[str, object], str]:
    env = {**os.environ, "CITYWATCH_DB_URL": platform.db_url, "CITYWATCH_DEVICE_SECRET": SECRET}
    out = subprocess.run(
        [sys.executable, "-m", "tools", "import-history", *args],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def test_a_stations_history_is_imported_once_dead_letters_named_then_evaluated(
    platform: Platform, tmp_path: Path
) -> None:
    csv = _history(tmp_path / "aq-001.csv", 72)
    got, err = _run(platform, str(csv), "--device", "aq-001")
    assert (got["rows"], got["written"], got["dead_lettered"]) == (75, 72, 3), err
    assert got["dead_by_reason"] == {"invalid_payload": 3}
    assert "re-evaluated" in err
    rows = platform.query("SELECT count(*), min(time), max(time) FROM air_quality WHERE device_id = 'aq-001'")
    assert rows[0][0] == 72 and rows[0][1].isoformat() == "2026-02-28T15:00:00+00:00"  # 00:00 in Seoul
    dead = platform.query(
        "SELECT reason, detail FROM dead_letters WHERE device_id = 'aq-001' ORDER BY detail"
    )
    assert len(dead) == 3 and any("pm25" in d for _r, d in dead) and any("ts" in d for _r, d in dead)
    # the re-evaluation made the hours' indices and the episode's advisory
    assert platform.query("SELECT count(*) FROM aq_hourly WHERE device_id = 'aq-001'")[0][0] >= 70
    advisory = platform.query("SELECT state, title FROM alerts WHERE key = 'aq.advisory.pm25:aq-001'")
    assert advisory and "경보" in advisory[0][1], advisory
    # history takes no part in the device's live loss accounting
    assert platform.query("SELECT count(*) FROM device_streams WHERE device_id = 'aq-001'")[0][0] == 0
    # the same file again: nothing stored twice, no dead letter twice
    again, _ = _run(platform, str(csv), "--device", "aq-001", "--no-evaluate")
    assert (again["written"], again["duplicates"], again["dead_lettered"]) == (0, 75, 0)
    assert platform.query("SELECT count(*) FROM air_quality WHERE device_id = 'aq-001'")[0][0] == 72
    counters = platform.query(
        "SELECT received, written, duplicates, dead_lettered FROM ingest_counters WHERE worker = 'history-import'"
    )
    assert counters == [(150, 72, 75, 3)]


def test_an_unregistered_device_is_refused_before_anything_is_read(
    platform: Platform, tmp_path: Path
) -> None:
    env = {**os.environ, "CITYWATCH_DB_URL": platform.db_url}
    out = subprocess.run(
        [sys.executable, "-m", "tools", "import-history", str(_history(tmp_path / "x.csv", 2)), "--device", "ghost"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode != 0 and "ghost is not registered" in out.stderr
