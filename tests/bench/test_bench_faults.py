"""`citywatch bench faults`, shortened: ingest killed, database down, broker restarted, tables locked,
the alert engine killed (with a second instance running by mistake), a webhook that hangs and fails —
under load, with real processes — and not one message, alert or notification lost or doubled."""

from __future__ import annotations

from tools.bench.faults import NAMES, run


def test_every_fault_loses_and_doubles_nothing() -> None:
    out = run(rate=400.0, seconds=6.0, outage_s=3.0)
    names = [s["name"] for s in out["scenarios"]]
    assert names == list(NAMES) and len(names) == 6
    for s in out["scenarios"][:4]:
        assert s["sent"] > 1000 and s["sent_after_fault"] > s["sent"] / 2, s  # the fault struck under load
        assert (s["lost"], s["duplicated"], s["dead_lettered"]) == (0, 0, 0), s
        assert s["stored"] == s["sent"], s
        assert 0 < s["peak_rss_mb"] < 300, s
    for s in out["scenarios"][4:]:
        assert (s["lost"], s["duplicated"], s["dead_lettered"]) == (0, 0, 0), s  # the traffic went on
        assert s["probes"] >= 10 and s["alerts_raised"] == s["probes"], s
        assert (s["alerts_lost"], s["alerts_duplicated"]) == (0, 0), s
        assert s["notifications_lost"] == {"mqtt": 0, "webhook": 0}, s
        assert s["notifications_duplicated"] == {"mqtt": 0, "webhook": 0}, s
        assert s["alerted_during_fault"] > 0, s  # the engine kept raising alerts through the fault
        assert 0 < s["peak_rss_mb"] < 400, s
    hang = out["scenarios"][5]
    assert hang["webhook_failed_attempts"] >= 1, hang  # the failure is visible in alert_deliveries
    assert out["total_lost"] == 0 and out["total_duplicated"] == 0
    assert out["total_alerts_lost"] == 0 and out["total_notifications_lost"] == 0
