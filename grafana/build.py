"""Render the dashboards to JSON (``grafana/dashboards/*.json``) and push them into a running Grafana."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from citywatch import localtime
from grafana.dashboards import ANNOTATION_SQL, DASHBOARDS
from grafana.panels import FOLDER, set_city_tz
from grafana.sql import DATASOURCE_TYPE, DATASOURCE_UID

log = logging.getLogger(__name__)

OUT = Path(__file__).resolve().parent / "dashboards"


def render(name: str, tz: str = localtime.DEFAULT) -> dict[str, Any]:
    """One dashboard as Grafana's JSON model, its local hours in the city's time zone ``tz``."""
    d: dict[str, Any] = json.loads(json.dumps(DASHBOARDS[name]().build(), cls=JSONEncoder))
    set_city_tz(d, tz)
    for anno in d.get("annotations", {}).get("list", []):
        sql = ANNOTATION_SQL.get(name, {}).get(anno.get("name", ""))
        if sql:
            anno["target"] = {
                "refId": "Anno",
                "datasource": {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID},
                "editorMode": "code",
                "rawQuery": True,
                "format": "table",
                "rawSql": " ".join(sql.split()),
            }
    for i, panel in enumerate(d.get("panels", []), 1):
        panel.setdefault("id", i)
    return d


def text(name: str) -> str:
    return json.dumps(render(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in DASHBOARDS:
        p = out / f"{name}.json"
        p.write_text(text(name))
        paths.append(p)
    return paths


def datasource(db_host: str, db_name: str, db_user: str, db_password: str) -> dict[str, Any]:
    """The TimescaleDB datasource, as provisioned in grafana/provisioning/datasources/citywatch.yaml."""
    return {
        "name": "citywatch-timescaledb",
        "uid": DATASOURCE_UID,
        "type": DATASOURCE_TYPE,
        "access": "proxy",
        "url": db_host,
        "user": db_user,
        "jsonData": {"database": db_name, "sslmode": "disable", "timescaledb": True, "postgresVersion": 1500},
        "secureJsonData": {"password": db_password},
    }


def push(url: str, token: str, ds: dict[str, Any], tz: str = localtime.DEFAULT) -> dict[str, Any]:
    """Upsert the datasource, the folder and every dashboard (local hours in ``tz``, the city's time zone);
    running it again changes nothing new."""
    from grafana_client import GrafanaApi
    from grafana_client.client import GrafanaClientError

    api = GrafanaApi.from_url(url, credential=token)
    try:
        api.datasource.get_datasource_by_uid(DATASOURCE_UID)
        api.datasource.update_datasource_by_uid(DATASOURCE_UID, ds)
        ds_action = "updated"
    except GrafanaClientError as e:
        if getattr(e, "status_code", None) != 404:
            raise
        api.datasource.create_datasource(ds)
        ds_action = "created"
    try:
        api.folder.get_folder(FOLDER)
        folder_action = "kept"
    except GrafanaClientError as e:
        if getattr(e, "status_code", None) != 404:
            raise
        api.folder.create_folder(FOLDER, uid=FOLDER)
        folder_action = "created"
    boards = []
    for name in DASHBOARDS:
        d = render(name, tz)
        d.pop("id", None)
        api.dashboard.update_dashboard(
            {"dashboard": d, "folderUid": FOLDER, "overwrite": True, "message": "citywatch grafana push"}
        )
        boards.append(d["uid"])
    log.info(
        "Grafana %s: datasource %s, folder %s, %d dashboards", url, ds_action, folder_action, len(boards)
    )
    return {"datasource": ds_action, "folder": folder_action, "dashboards": boards}
