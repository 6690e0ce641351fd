"""Replay the UCI Air Quality series (De Vito et al., hourly, 2004-2005) as one station.

The file uses ``;`` separators, ``,`` decimals and ``-200`` for missing values.
Reference-analyser columns are converted to the contract's units: CO mg/m³ ->
ppm (x 24.45/28.01), NO2 µg/m³ -> ppm (x 24.45/46.01/1000). The series has no
PM columns, so PM fields are null. Hours where every sensor is missing are a
real outage: the station sends nothing. Time is shifted by whole weeks so the
replay ends at ``end`` with weekday and hour-of-day patterns intact.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from citywatch.contracts import messages as m
from citywatch.contracts.topics import DeviceKind, topic_for
from simulators.engine import Out

STATION_ID = "aq-uci"
CO_MG_TO_PPM = 24.45 / 28.01
NO2_UG_TO_PPM = 24.45 / 46.01 / 1000


def _num(s: str) -> float | None:
    s = s.strip().replace(",", ".")
    if not s:
        return None
    v = float(s)
    return None if v == -200 else v


def read(path: Path) -> list[tuple[datetime, dict[str, float | None]]]:
    rows = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        for r in csv.DictReader(f, delimiter=";"):
            if not r.get("Date"):
                continue
            when = datetime.strptime(f"{r['Date']} {r['Time']}", "%d/%m/%Y %H.%M.%S")
            values = {k: _num(r.get(k) or "") for k in ("CO(GT)", "NO2(GT)", "T", "RH", "PT08.S1(CO)")}
            rows.append((when, values))
    return rows


def replay(path: Path, end: datetime, days: float, device_id: str = STATION_ID) -> Iterator[Out]:
    """The last ``days`` of the series, shifted to end at ``end``, as publishable messages."""
    rows = read(path)
    if not rows:
        return
    last = rows[-1][0]
    weeks = int((end.replace(tzinfo=None) - last).days // 7) + 1
    shift = timedelta(weeks=weeks) - timedelta(weeks=1)
    first_kept = end.replace(tzinfo=None) - timedelta(days=days) - shift
    seq = 0
    for when, v in rows:
        if when < first_kept or all(x is None for x in v.values()):
            continue
        t = (when + shift).replace(tzinfo=UTC)
        co, no2 = v["CO(GT)"], v["NO2(GT)"]
        msg = m.AirQualityReading(
            device_id=device_id,
            ts=t,
            seq=seq,
            co=round(co * CO_MG_TO_PPM, 3) if co is not None else None,
            no2=round(no2 * NO2_UG_TO_PPM, 4) if no2 is not None else None,
            temp_c=v["T"],
            rh=min(100.0, v["RH"]) if v["RH"] is not None else None,
        )
        seq += 1
        yield Out(
            t.timestamp(),
            device_id,
            DeviceKind.AIR_QUALITY,
            topic_for(DeviceKind.AIR_QUALITY, device_id),
            m.to_json(msg),
        )
