"""`citywatch bench ingest`, shortened: every phase runs against real processes and the figures the
issue names are there, with every message accounted for."""

from __future__ import annotations

import pytest

from tools.bench.ingest import run

KEYS = (
    "ingest_drain_msgs_per_s",
    "ingest_batched_readings_per_s",
    "ingest_live_msgs_per_s",
    "e2e_latency_p99_ms",
    "ingest_peak_rss_mb",
    "ceiling_copy_rows_per_s",
    "ceiling_mqtt_recv_msgs_per_s",
    "lost",
    "duplicated",
)


@pytest.mark.slow
def test_a_short_ingest_bench_accounts_for_everything() -> None:
    out = run(messages=5000, live_seconds=3.0, workers=2, pack_readings=5000, latency_rate=1000.0)
    assert all(k in out for k in KEYS), sorted(out)
    assert (out["lost"], out["duplicated"], out["dead_lettered"]) == (0, 0, 0)
    assert out["sent"] == out["stored"] > 15_000  # drain + live + latency load + packs' readings
    assert out["latency_probes_seen"] == out["latency_probes"] > 0
    assert out["latency_load_achieved_msgs_per_s"] > 800  # the raw load generator keeps its pace
    for k in KEYS[:7]:
        assert out[k] > 0, k
