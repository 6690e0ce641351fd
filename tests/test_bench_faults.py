"""`citywatch bench faults`, shortened: ingest killed, database down, broker restarted, tables locked —
under load, with real processes — and not one message lost or stored twice."""

from __future__ import annotations

from citywatch.bench.faults import run


def test_every_fault_loses_and_doubles_nothing() -> None:
    out = run(rate=400.0, seconds=6.0, outage_s=3.0)
    names = [s["name"] for s in out["scenarios"]]
    assert names == ["ingest_sigkill", "database_down", "broker_restart", "database_locked"]
    for s in out["scenarios"]:
        assert s["sent"] > 1000 and s["sent_after_fault"] > s["sent"] / 2, s  # the fault struck under load
        assert (s["lost"], s["duplicated"], s["dead_lettered"]) == (0, 0, 0), s
        assert s["stored"] == s["sent"], s
        assert 0 < s["peak_rss_mb"] < 300, s
    assert out["total_lost"] == 0 and out["total_duplicated"] == 0
