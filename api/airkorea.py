"""The city's stations in the shape of AirKorea's open API (pure): 한국환경공단 에어코리아 대기오염정보
(``ArpltnInforInqireSvc``) ``getMsrstnAcctoRltmMesureDnsty``, 측정소별 실시간 측정정보.

Korean displays, apps and the province's systems are written against that API; pointed at citywatch they
read the city's own network, hour by hour, with its grades and its data-status flags:

* values as AirKorea writes them: strings, PM in whole µg/m³, CO in ppm to one decimal, the other gases
  in ppm to three; ``-`` where there is none;
* ``dataTime`` the end of the hour, in the city's time (``2026-12-07 15:00`` is 14:00–15:00), midnight
  written ``24:00`` of the day ending;
* grades ``1``–``4`` (좋음, 보통, 나쁨, 매우나쁨): PM's of its 24-hour mean (``pm10Grade``) and of its hour
  (``pm10Grade1h``), the gases' of their hour, ``khaiGrade`` of the CAI;
* a flag per pollutant where its value is not the air — ``통신장애`` (nothing heard from the station that
  hour), ``점검및교정`` (under a maintenance window), ``자료이상`` (under one of the station's sensor-fault
  alerts) — with the value ``-`` and no grade, as AirKorea gives them; the CAI of such an hour is the
  CAI of what is left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final
from xml.etree import ElementTree as ET

from alerts.maintenance import Window
from analytics.airquality.cai import Grade, cai, grade, sub_index

NO_DATA: Final = "통신장애"
MAINTENANCE: Final = "점검및교정"
FAULT: Final = "자료이상"
MISSING: Final = "-"
NETWORK: Final = "도시대기"  # 측정망: a station's meta.network may say otherwise (도로변대기, …)

GRADES: Final = {Grade.GOOD: "1", Grade.MODERATE: "2", Grade.UNHEALTHY: "3", Grade.VERY_UNHEALTHY: "4"}
#: how AirKorea writes each pollutant's value: its decimals
DECIMALS: Final = {"pm10": 0, "pm25": 0, "co": 1, "o3": 3, "no2": 3, "so2": 3}
GASES: Final = ("so2", "co", "o3", "no2")
PARTICULATES: Final = ("pm10", "pm25")

OK: Final = ("00", "NORMAL_CODE")
#: hours each dataTerm reaches back
TERMS: Final = {"DAILY": 24, "MONTH": 24 * 30, "3MONTH": 24 * 90}


@dataclass(frozen=True, slots=True)
class StationHour:
    """One hour of a station (``end``: the hour's end): its hourly means, its 24-hour particulate means,
    and per pollutant why its value is not the air (a flag), if it is not."""

    end: datetime
    hourly: Mapping[str, float | None]
    day: Mapping[str, float | None]  # pm10, pm25: 24-hour means
    flags: Mapping[str, str]


def data_time(end: datetime, zone: tzinfo) -> str:
    """An hour's end as AirKorea writes it: ``YYYY-MM-DD HH:00`` in the city's time, midnight as ``24:00``
    of the day that ends."""
    local = end.astimezone(zone)
    if local.hour == 0:
        return f"{(local - timedelta(days=1)):%Y-%m-%d} 24:00"
    return f"{local:%Y-%m-%d %H}:00"


def value(pollutant: str, x: float | None) -> str:
    if x is None:
        return MISSING
    places = DECIMALS[pollutant]
    return str(Decimal(repr(x)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _grade(pollutant: str, x: float | None) -> str | None:
    index = sub_index(pollutant, x)
    return None if index is None else GRADES[grade(index)]


def item(station: Mapping[str, Any], h: StationHour, zone: tzinfo) -> dict[str, str | None]:
    """One hour of one station as an item of AirKorea's answer."""
    hourly = {p: None if p in h.flags else h.hourly.get(p) for p in (*GASES, *PARTICULATES)}
    day = {p: None if p in h.flags else h.day.get(p) for p in PARTICULATES}
    index = cai({**{p: hourly[p] for p in GASES}, **day})
    out: dict[str, str | None] = {
        "dataTime": data_time(h.end, zone),
        "stationName": station["name"],
        "mangName": (station.get("meta") or {}).get("network") or NETWORK,
    }
    for p in GASES:
        out[f"{p}Value"] = value(p, hourly[p])
    for p in PARTICULATES:
        out[f"{p}Value"] = value(p, hourly[p])
        out[f"{p}Value24"] = value(p, day[p])
    out["khaiValue"] = str(index.value) if index else MISSING
    out["khaiGrade"] = GRADES[index.grade] if index else None
    for p in GASES:
        out[f"{p}Grade"] = _grade(p, hourly[p])
    for p in PARTICULATES:
        out[f"{p}Grade"] = _grade(p, day[p])
        out[f"{p}Grade1h"] = _grade(p, hourly[p])
    for p in (*GASES, *PARTICULATES):
        out[f"{p}Flag"] = h.flags.get(p)
    return out


def envelope(items: list[dict[str, str | None]], total: int, page: int, rows: int) -> dict[str, Any]:
    return {
        "response": {
            "header": {"resultCode": OK[0], "resultMsg": OK[1]},
            "body": {"totalCount": total, "items": items, "pageNo": page, "numOfRows": rows},
        }
    }


def as_xml(answer: Mapping[str, Any]) -> bytes:
    """The same answer as AirKorea's XML (its default): ``<response><header>…</header><body><items><item>``
    with one element per field, empty where the field is null."""
    root = ET.Element("response")
    head = ET.SubElement(root, "header")
    for k, v in answer["response"]["header"].items():
        ET.SubElement(head, k).text = str(v)
    body = ET.SubElement(root, "body")
    items = ET.SubElement(body, "items")
    for it in answer["response"]["body"]["items"]:
        e = ET.SubElement(items, "item")
        for k, v in it.items():
            ET.SubElement(e, k).text = None if v is None else str(v)
    for k in ("numOfRows", "pageNo", "totalCount"):
        ET.SubElement(body, k).text = str(answer["response"]["body"][k])
    data: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return data


def flags_of(
    end: datetime,
    heard: bool,
    maintenance: Iterable[Window],
    faults: Iterable[tuple[datetime, datetime, Iterable[str]]],
) -> dict[str, str]:
    """Per pollutant, why the hour ending at ``end`` is not the air: nothing heard from the station; a
    maintenance window over part of the hour; a sensor fault (its pollutants) over part of it."""
    start = end - timedelta(hours=1)
    every = (*GASES, *PARTICULATES)
    if not heard:
        return dict.fromkeys(every, NO_DATA)
    if any(w.overlaps(start, end) for w in maintenance):
        return dict.fromkeys(every, MAINTENANCE)
    out: dict[str, str] = {}
    for a, b, pollutants in faults:
        if a < end and b > start:
            out |= dict.fromkeys(pollutants, FAULT)
    return out


#: the pollutants each of a station's sensor-fault alerts says are not the air (``aq.saturation``: those
#: its details name)
FAULT_POLLUTANTS: Final = {"aq.stuck": ("pm25",), "aq.drift": ("pm25",), "aq.range": ("pm25", "pm10")}
FAULT_RULES: Final = [*FAULT_POLLUTANTS, "aq.saturation"]


def fault_pollutants(rule: str, details: Mapping[str, Any] | None) -> tuple[str, ...]:
    if rule == "aq.saturation":
        return tuple((details or {}).get("pollutants") or ())
    return FAULT_POLLUTANTS.get(rule, ())
