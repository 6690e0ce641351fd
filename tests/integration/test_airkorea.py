"""AirKorea's answer for a station, from what the real analytics made of a day and more of its minutes:
its hours, their means and CAI, and the hours flagged for silence, maintenance and a sensor fault."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import numpy as np
import psycopg

from alerts import store
from alerts.model import Clear, Explanation, Raise, Severity
from analytics.airquality.cai import cai as cai_of
from analytics.service import AnalyticsService
from api import airkorea
from citywatch.localtime import SEOUL
from tests.support import Api

PATH = "/B552584/ArpltnInforInqireSvc/getMsrstnAcctoRltmMesureDnsty"


def test_a_station_s_day_as_airkorea_answers_it(api: Api) -> None:
    p = api.platform
    now = datetime.now(UTC)
    if (to_next_hour := 3600 - now.minute * 60 - now.second) < 120:  # the API must see the same last hour
        time.sleep(to_next_hour + 1)
        now = datetime.now(UTC)
    last = now.replace(minute=0, second=0, microsecond=0)  # the end of the last whole hour
    start = last - timedelta(hours=30)
    silent = (
        last - timedelta(hours=6),
        last - timedelta(hours=4),
    )  # nothing heard in the hours ending 5, 4 h ago
    rng = np.random.default_rng(5)
    minutes = [start + timedelta(minutes=i) for i in range(int((now - start).total_seconds() // 60))]
    minutes = [t for t in minutes if not silent[0] <= t < silent[1]]
    pm10 = rng.uniform(20, 90, len(minutes)).round(1)
    pm25 = (pm10 * rng.uniform(0.4, 0.6, len(minutes))).round(1)
    o3 = rng.uniform(0.01, 0.06, len(minutes)).round(4)
    copy = "COPY air_quality (time, device_id, seq, pm10, pm25, o3, received_at) FROM STDIN"
    with psycopg.connect(p.db_url) as conn, conn.cursor() as cur, cur.copy(copy) as cp:
        for i, t in enumerate(minutes):
            cp.write_row((t, "aq-001", i, float(pm10[i]), float(pm25[i]), float(o3[i]), t))
    AnalyticsService(p.settings()).evaluate_range(start, last)
    with psycopg.connect(p.db_url, autocommit=True) as conn:
        # under maintenance from ten minutes into the hour ending 9 h ago, for ten minutes
        conn.execute(
            "INSERT INTO maintenance (subject, starts_at, ends_at, reason, created_by) VALUES ('aq-001', %s, %s,"
            " 'zero and span check', 'operator')",
            (last - timedelta(hours=10, minutes=-10), last - timedelta(hours=9, minutes=40)),
        )
        # PM2.5 read above PM10 from five minutes into the hour ending 14 h ago until half past the next
        key = "aq.range:aq-001"
        fault = Raise("aq.range", "aq-001", "aq", Severity.WARNING, "PM2.5 above PM10",
                      Explanation(rule="aq.range", observed=1.0))  # fmt: skip
        store.apply(conn, fault, last - timedelta(hours=15, minutes=-5), key=key)
        store.apply(conn, Clear("consistent again"), last - timedelta(hours=14, minutes=-30), key=key)
        cai = dict(conn.execute("SELECT hour, cai FROM aq_hourly WHERE device_id = 'aq-001'").fetchall())
    with api.client("viewer") as c:
        r = c.get(PATH, params={"stationName": "aq-001", "returnType": "json", "numOfRows": 100})
        assert r.status_code == 200, r.text
        body = r.json()["response"]["body"]
        assert r.json()["response"]["header"] == {"resultCode": "00", "resultMsg": "NORMAL_CODE"}
        assert body["totalCount"] == 24 and len(body["items"]) == 24
        items = {it["dataTime"]: it for it in body["items"]}
        assert body["items"][0]["dataTime"] == airkorea.data_time(last, SEOUL)  # newest first

        def at(hours_ago: int) -> dict[str, str | None]:
            return items[airkorea.data_time(last - timedelta(hours=hours_ago), SEOUL)]

        flagged = {5: "통신장애", 4: "통신장애", 9: "점검및교정"}  # hours ago -> every pollutant's flag
        for ago in range(24):
            end = last - timedelta(hours=ago)
            it = at(ago)
            if ago in flagged:
                assert it["pm10Flag"] == it["o3Flag"] == it["no2Flag"] == flagged[ago], (ago, it)
                assert it["pm10Value"] == it["o3Value"] == "-" and it["pm10Grade1h"] is None
                continue
            hour = [i for i, t in enumerate(minutes) if end - timedelta(hours=1) <= t < end]
            o3_mean = float(np.mean(o3[hour]))
            assert it["o3Value"] == airkorea.value("o3", o3_mean), ago
            assert it["no2Value"] == "-" and it["no2Flag"] is None  # the station has no NO2 analyser
            if ago in (14, 13):  # under the fault: PM is not the air; the CAI is that of what is left, O3's
                assert (it["pm25Flag"], it["pm10Flag"], it["pm25Value"], it["pm10Value24"]) == (
                    "자료이상", "자료이상", "-", "-"
                ), ago  # fmt: skip
                left = cai_of({"o3": o3_mean})
                assert it["o3Flag"] is None and left is not None and it["khaiValue"] == str(left.value), ago
            else:
                assert it["pm25Flag"] is None and it["khaiValue"] == str(cai[end]), (ago, it, cai[end])
                assert it["pm10Value"] == airkorea.value("pm10", float(np.mean(pm10[hour]))), ago
        assert sum(1 for it in body["items"] if it["pm25Flag"] == "자료이상") == 2
        xml = c.get(PATH, params={"stationName": "aq-001", "numOfRows": 3, "pageNo": 2})  # AirKorea's default
        assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
        root = ET.fromstring(xml.content)
        assert [e.findtext("dataTime") for e in root.findall("body/items/item")] == [
            it["dataTime"] for it in body["items"][3:6]
        ]
        assert root.findtext("body/totalCount") == "24"
        month = c.get(
            PATH, params={"stationName": "aq-001", "returnType": "json", "dataTerm": "MONTH"}
        ).json()
        assert month["response"]["body"]["totalCount"] == 24 * 30
        unknown = c.get(PATH, params={"stationName": "없는 측정소", "returnType": "json"}).json()
        assert unknown["response"]["body"]["totalCount"] == 0
        bad = c.get(PATH, params={"stationName": "aq-001", "returnType": "json", "dataTerm": "YEAR"})
        assert bad.status_code == 422 and "dataTerm" in bad.text  # a problem naming the parameter
        assert c.get(PATH, params={"returnType": "json"}).status_code == 422
