"""Onboarding a city through the API: a zone with its boundary, a garage, then two thousand devices from
one CSV — registered in one request, the refused rows named, and the same file again changing nothing."""

from __future__ import annotations

from tests.support import Api

BOUNDARY = {
    "type": "Polygon",
    "coordinates": [[[126.97, 37.57], [127.02, 37.57], [127.02, 37.60], [126.97, 37.60], [126.97, 37.57]]],
}


def _csv(n: int, name: str = "station") -> bytes:
    rows = ["device_id,kind,name,lat,lon,zone_id,expected_interval_s,meta.instruments"]
    rows += [
        f'aq-{i:05d},aq,{name} {i},37.58,126.99,jongno,3600,"{{""co"": {{""full_scale"": 50}}}}"'
        for i in range(n)
    ]
    rows += ["pk-00001,parking,space,37.58,126.99,jongno,600,", "aq-99999,aq,x,,,atlantis,,"]
    return ("\n".join(rows) + "\n").encode()


def test_a_zone_a_lot_and_two_thousand_devices_in_one_request_idempotently(api: Api) -> None:
    with api.client("admin") as c:
        z = c.put("/api/v1/zones/jongno", json={"name": "종로구", "boundary": BOUNDARY})
        assert z.status_code == 200, z.text
        assert z.json()["boundary"]["type"] == "Polygon" and z.json()["name"] == "종로구"
        open_ring = {
            "type": "Polygon",
            "coordinates": [[[126.9, 37.5], [127.0, 37.5], [127.0, 37.6], [126.9, 37.6]]],
        }
        bad = c.put("/api/v1/zones/jongno", json={"name": "x", "boundary": open_ring})
        assert bad.status_code == 422, bad.text
        lot = c.put(
            "/api/v1/parking/lots/garage-1",
            json={
                "name": "세운상가 공영주차장",
                "capacity": 577,
                "lat": 37.57,
                "lon": 126.99,
                "zone_id": "jongno",
            },
        )
        assert lot.status_code == 200 and lot.json()["capacity"] == 577, lot.text
        assert c.put("/api/v1/parking/lots/garage-2", json={"name": "x", "capacity": 1, "lat": 0, "lon": 0,
                                                             "zone_id": "atlantis"}).status_code == 422  # fmt: skip

        first = c.post("/api/v1/devices/import", content=_csv(2000), headers={"content-type": "text/csv"})
        assert first.status_code == 200, first.text
        r = first.json()
        assert (r["rows"], r["created"], r["updated"], r["unchanged"]) == (2002, 2001, 0, 0)
        assert [(x["row"], x["device_id"]) for x in r["refused"]] == [(2002, "aq-99999")]
        assert r["refused"][0]["errors"][0].startswith(
            "zone_id: 'atlantis' 구역이 없습니다"
        )  # the city's language

        again = c.post(
            "/api/v1/devices/import", content=_csv(2000), headers={"content-type": "text/csv"}
        ).json()
        assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2001)
        renamed = c.post(
            "/api/v1/devices/import", content=_csv(2000, "도시대기"), headers={"content-type": "text/csv"}
        ).json()
        assert (renamed["created"], renamed["updated"], renamed["unchanged"]) == (0, 2000, 1)

        zones = {x["zone_id"]: x for x in c.get("/api/v1/zones").json()}
        assert (zones["jongno"]["stations"], zones["jongno"]["lots"], zones["jongno"]["devices"]) == (
            2000,
            1,
            2001,
        )
        one = c.get("/api/v1/devices/aq-00042").json()
        assert one["name"] == "도시대기 42" and one["meta"] == {"instruments": {"co": {"full_scale": 50}}}

    with api.client("operator") as c:
        assert (
            c.post(
                "/api/v1/devices/import", content=_csv(1), headers={"content-type": "text/csv"}
            ).status_code
            == 403
        )
    audit = [a for (a,) in api.platform.query("SELECT action FROM api_audit ORDER BY id")]
    assert audit == ["zone.put", "lot.put", "device.import", "device.import", "device.import"]
    with api.client("admin") as c:  # the same refusal for an English reader
        english = c.post(
            "/api/v1/devices/import", params={"lang": "en"}, content=b"device_id,kind,name,zone_id\naq-9,aq,x,atlantis\n",
            headers={"content-type": "text/csv"},
        ).json()  # fmt: skip
    assert english["refused"][0]["errors"] == [
        "zone_id: no zone 'atlantis' (create it first: PUT /api/v1/zones/atlantis)"
    ]


def test_the_command_line_onboards_through_the_api_with_an_admin_key(api: Api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "CITYWATCH_DB_URL": api.platform.db_url}

    def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tools", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
        )

    key = cli("user", "key", "onboarding", "--role", "admin").stdout.strip()
    env |= {"CITYWATCH_API_URL": api.url, "CITYWATCH_API_KEY": key}
    (tmp_path / "jongno.geojson").write_text(
        json.dumps({"type": "Feature", "properties": {}, "geometry": BOUNDARY})
    )
    zone = json.loads(
        cli(
            "onboard", "zone", "jongno", "--name", "종로구", "--boundary", str(tmp_path / "jongno.geojson")
        ).stdout
    )
    assert zone["name"] == "종로구" and zone["boundary"]["type"] == "Polygon"
    lot = json.loads(cli("onboard", "lot", "garage-1", "--name", "세운상가", "--capacity", "577", "--lat", "37.57",
                         "--lon", "126.99", "--zone", "jongno").stdout)  # fmt: skip
    assert lot["capacity"] == 577
    (tmp_path / "devices.csv").write_bytes(_csv(20))
    report = json.loads(cli("onboard", "devices", str(tmp_path / "devices.csv")).stdout)
    assert (report["created"], len(report["refused"])) == (21, 1)
    refused = cli("onboard", "lot", "garage-2", "--name", "x", "--capacity", "1", "--lat", "0", "--lon", "0",
                  "--zone", "atlantis", check=False)  # fmt: skip
    assert refused.returncode == 1 and refused.stderr.startswith("422:") and "atlantis" in refused.stderr
    from tests.support import feed

    (tmp_path / "gtfs.zip").write_bytes(_zip(feed()))
    routes = json.loads(cli("onboard", "routes", str(tmp_path / "gtfs.zip")).stdout)
    assert (routes["routes"], routes["stops"]) == (1, 5)
    (tmp_path / "broken.zip").write_bytes(_zip({k: v for k, v in feed().items() if k != "trips.txt"}))
    broken = cli("onboard", "routes", str(tmp_path / "broken.zip"), check=False)
    assert broken.returncode == 1 and "trips.txt" in broken.stderr and "missing" in broken.stderr


def _zip(files: dict[str, str], written: tuple[int, ...] = (2026, 3, 1, 9, 0, 0), folder: str = "") -> bytes:
    """The feed as an archive whose entries were written at ``written``, inside ``folder``."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(zipfile.ZipInfo(folder + name, written), text)  # type: ignore[arg-type]
    return buf.getvalue()


def test_the_transit_agency_s_routes_are_uploaded_checked_and_the_newest_is_the_bell_s(api: Api) -> None:
    """A GTFS feed uploaded through the API: read as the bell reads it (a broken one refused with its file,
    line and problem), stored, the newest the one the bell takes up; the same feed again is the newest
    once more; operators may not upload; the bell's role reads feeds and cannot write them."""
    import psycopg

    from boarding.service import uploaded_feed
    from tests.support import feed

    good, shorter = feed(), feed()
    shorter["stop_times.txt"] = "trip_id,stop_id,stop_sequence\nt0,s0,1\nt0,s1,2\nt1,s1,1\nt1,s0,2\n"
    broken = feed() | {"stop_times.txt": "trip_id,stop_id,stop_sequence\nt0,s0,1\nt0,s7,2\n"}
    zipped = {"content-type": "application/zip"}
    with api.client("admin") as c:
        assert c.get("/api/v1/transit/feed").status_code == 404
        refused = c.put("/api/v1/transit/feed", content=_zip(broken), headers=zipped)
        assert refused.status_code == 422 and "stop_times.txt:3: unknown stop 's7'" in refused.text, (
            refused.text
        )
        assert c.put("/api/v1/transit/feed", content=b"not a zip", headers=zipped).status_code == 422
        first = c.put("/api/v1/transit/feed", content=_zip(good), headers=zipped)
        assert first.status_code == 200, first.text
        got = first.json()
        assert (got["routes"], got["stops"], got["directions"]) == (1, 5, 2)
        second = c.put("/api/v1/transit/feed", content=_zip(shorter), headers=zipped).json()
        with psycopg.connect(api.platform.db_url) as conn:
            newest = uploaded_feed(conn)
            assert newest is not None and newest[0] == second["id"] and len(newest[1].serving("s1")) == 1
            assert uploaded_feed(conn, newer_than=second["id"]) is None  # nothing newer: the bell keeps it
            # the agency's export of the same feed a day later, its files in another order inside a folder
            rezipped = _zip(dict(reversed(good.items())), written=(2026, 3, 2, 9, 0, 0), folder="gtfs/")
            assert rezipped != _zip(good)
            again = c.put("/api/v1/transit/feed", content=rezipped, headers=zipped).json()
            assert again["id"] == got["id"] and again["uploaded_at"] > got["uploaded_at"]
            newest = uploaded_feed(conn, newer_than=second["id"])
            assert newest is not None and newest[0] == got["id"]
            assert c.get("/api/v1/transit/feed").json()["id"] == got["id"]
            with conn.transaction():
                conn.execute("SET LOCAL ROLE citywatch_boarding")
                assert conn.execute("SELECT count(*) FROM transit_feeds").fetchone() == (2,)
            try:
                with conn.transaction():
                    conn.execute("SET LOCAL ROLE citywatch_boarding")
                    conn.execute("DELETE FROM transit_feeds")
                raise AssertionError("the bell's role deleted a feed")
            except psycopg.errors.InsufficientPrivilege:
                pass
    with api.client("operator") as c:
        assert c.put("/api/v1/transit/feed", content=_zip(good), headers=zipped).status_code == 403
    audit = [a for (a,) in api.platform.query("SELECT action FROM api_audit ORDER BY id")]
    assert audit == ["transit.feed"] * 3
