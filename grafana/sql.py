"""A PostgreSQL (TimescaleDB) query target for the Grafana Foundation SDK's panel builders.

The SDK has typed builders for panels and dashboards but none for the SQL
datasource's query model; this is that model: ``rawSql`` in code mode with a
``format`` of ``time_series`` or ``table``.
"""

from __future__ import annotations

from typing import Literal

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

DATASOURCE_UID = "citywatch-tsdb"
DATASOURCE_TYPE = "grafana-postgresql-datasource"
DATASOURCE = DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)

Format = Literal["time_series", "table"]


class SqlQuery(cogvariants.Dataquery):
    def __init__(self, raw_sql: str, fmt: Format, ref_id: str = "A") -> None:
        self.raw_sql = raw_sql
        self.format = fmt
        self.ref_id = ref_id

    def to_json(self) -> dict[str, object]:
        return {
            "refId": self.ref_id,
            "datasource": {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID},
            "editorMode": "code",
            "rawQuery": True,
            "format": self.format,
            "rawSql": self.raw_sql,
        }


class Sql(cogbuilder.Builder[SqlQuery]):
    def __init__(self, raw_sql: str, fmt: Format = "time_series", ref_id: str = "A") -> None:
        self._internal = SqlQuery(" ".join(raw_sql.split()), fmt, ref_id)

    def build(self) -> SqlQuery:
        return self._internal
