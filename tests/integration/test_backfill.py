"""Re-evaluating a historical range covers the whole range for every stream: CCTV and parking events
days back raise the alerts they would have raised live (they used to be read only from a few hours before
the end of the range), on a real TimescaleDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from analytics.service import AnalyticsService
from citywatch.settings import DatabaseSettings, Settings
from simulators.city import Scale, build_city
from simulators.provision import register_city

CITY = Scale(stations=2, lots=1, spaces_per_lot=4, cameras=1, routes=1, stops_per_route=2, buses_per_route=1)


def test_a_backfill_of_three_days_raises_the_cctv_and_parking_alerts_of_all_three(db_url: str) -> None:
    register_city(db_url, build_city(9, CITY))
    now = datetime.now(UTC).replace(microsecond=0)
    fires = [now - timedelta(hours=h) for h in (50, 26, 2)]
    full_at = now - timedelta(hours=30)
    with psycopg.connect(db_url, autocommit=True) as conn:
        for i, t in enumerate(fires):
            conn.execute(
                "INSERT INTO cctv_events (time, device_id, seq, event_id, event_type, confidence, object_class,"
                " bbox, zone, received_at) VALUES (%s, 'cam-001', %s, %s, 'fire', 0.95, 'fire',"
                " '{0.1,0.1,0.1,0.1}', 'jangan', now())",
                (t, i, f"fire-{i}"),
            )
        for k in range(4):  # the lot fills up 30 h ago, and empties two hours later
            for seq, (t, occupied) in enumerate(
                ((full_at + timedelta(minutes=k), True), (full_at + timedelta(hours=2), False))
            ):
                conn.execute(
                    "INSERT INTO parking_events (time, device_id, seq, lot_id, space_id, occupied, reason,"
                    " received_at) VALUES (%s, %s, %s, 'lot-01', %s, %s, 'change', now())",
                    (t, f"pk-01-00{k + 1}", seq, f"S00{k + 1}", occupied),
                )
        AnalyticsService(Settings(db=DatabaseSettings(url=db_url))).evaluate_range(
            now - timedelta(days=3), now
        )
        got = conn.execute(
            "SELECT rule, opened_at, state FROM alerts WHERE rule IN ('cctv.fire', 'parking.lot_full') ORDER BY opened_at"
        ).fetchall()
    fire_alerts = [(t, st) for r, t, st in got if r == "cctv.fire"]
    assert [t for t, _ in fire_alerts] == fires  # one each, opened when it burned
    assert all(st == "resolved" for _, st in fire_alerts)  # each cleared by its quiet period
    lot = [(t, st) for r, t, st in got if r == "parking.lot_full"]
    assert (
        len(lot) == 1 and full_at <= lot[0][0] <= full_at + timedelta(minutes=3) and lot[0][1] == "resolved"
    )
