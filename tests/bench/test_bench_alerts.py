"""`citywatch bench alerts`, shortened: ingest and analytics as processes under load, every fire probe
stored and alerted, and the figures consistent (measured, not timed: the 5 s target is the bench's)."""

from __future__ import annotations

from tools.bench.alerts import run


def test_every_probe_is_stored_then_alerted() -> None:
    out = run(load_msgs_per_s=500.0, seconds=4.0)
    assert out["probes"] >= 3 and out["probes_alerted"] == out["probes"], out
    assert out["load_msgs_per_s"] >= 400, out
    assert 0 < out["event_stored_p50_ms"] <= out["event_stored_p99_ms"], out
    assert 0 < out["alert_after_ingest_p50_ms"] <= out["alert_after_ingest_p99_ms"], out
    assert 0 < out["alert_latency_p50_ms"] <= out["alert_latency_p99_ms"] == out["alert_latency_max_ms"], out
    # the end-to-end latency of a probe includes its ingest
    assert out["alert_latency_max_ms"] >= out["event_stored_p50_ms"], out
