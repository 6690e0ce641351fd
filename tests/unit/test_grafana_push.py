"""`citywatch grafana push` through the real grafana-client library against a stand-in of the few
Grafana HTTP API endpoints it uses (no Grafana server can be installed on this machine): the first
push creates the datasource, the folder and every dashboard; the second updates the datasource in
place, keeps the folder and overwrites each dashboard by its uid. The stand-in is strict where Grafana
is: it refuses a second datasource or folder of the same uid, a dashboard that exists unless the push
says ``overwrite``, and any request without the token; what it refuses fails the test."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from grafana.build import datasource, push
from grafana.dashboards import DASHBOARDS
from grafana.panels import FOLDER


class FakeGrafana(BaseHTTPRequestHandler):
    state: ClassVar[dict[str, Any]] = {}
    calls: ClassVar[list[tuple[str, str]]] = []
    refused: ClassVar[list[str]] = []  # what Grafana would have refused (checked by the test)

    def _refuse(self, code: int, why: str) -> None:
        self.refused.append(f"{self.command} {self.path}: {why}")
        self._send(code, {"message": why})

    def _authorized(self) -> bool:
        if self.headers["Authorization"] != "Bearer tok":
            self._refuse(401, "no token")
            return False
        return True

    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else None

    def do_GET(self) -> None:
        self.calls.append(("GET", self.path))
        if not self._authorized():
            return None
        if self.path.startswith("/api/datasources/uid/"):
            ds = self.state.get("ds")
            return self._send(200, ds) if ds else self._send(404, {"message": "not found"})
        if self.path.startswith("/api/folders/"):
            f = self.state.get("folder")
            return self._send(200, f) if f else self._send(404, {"message": "not found"})
        self._send(404, {"message": "unknown"})

    def do_POST(self) -> None:
        self.calls.append(("POST", self.path))
        if not self._authorized():
            return None
        body = self._body()
        if self.path == "/api/datasources":
            if "ds" in self.state:
                return self._refuse(409, "data source with the same uid already exists")
            self.state["ds"] = body
            return self._send(200, {"id": 1, "message": "Datasource added"})
        if self.path == "/api/folders":
            if "folder" in self.state:
                return self._refuse(409, "a folder with the same uid already exists")
            self.state["folder"] = body
            return self._send(200, {"uid": body["uid"], "title": body["title"]})
        if self.path == "/api/dashboards/db":
            dashboards = self.state.setdefault("dashboards", {})
            uid = body["dashboard"]["uid"]
            if uid in dashboards and not body.get("overwrite"):
                return self._refuse(412, "a dashboard with the same uid already exists")
            dashboards[uid] = body
            return self._send(200, {"status": "success", "uid": uid})
        self._refuse(404, "unknown endpoint")

    def do_PUT(self) -> None:
        self.calls.append(("PUT", self.path))
        if not self._authorized():
            return None
        if not self.path.startswith("/api/datasources/uid/") or "ds" not in self.state:
            return self._refuse(404, "no such data source")
        self.state["ds"] = self._body()
        self._send(200, {"message": "Datasource updated"})

    def log_message(self, *_a: object) -> None:
        pass


def test_push_creates_then_updates_in_place() -> None:
    FakeGrafana.state.clear()
    FakeGrafana.calls.clear()
    FakeGrafana.refused.clear()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeGrafana)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    ds = datasource("db:5432", "citywatch", "grafana_ro", "pw")
    try:
        first = push(url, "tok", ds)
        assert first["datasource"] == "created" and first["folder"] == "created"
        assert len(first["dashboards"]) == len(DASHBOARDS)
        stored = FakeGrafana.state["dashboards"]
        assert set(stored) == set(first["dashboards"])
        assert all(b["folderUid"] == FOLDER and b["overwrite"] for b in stored.values())
        assert FakeGrafana.state["ds"]["jsonData"]["timescaledb"] is True
        n_calls = len(FakeGrafana.calls)
        second = push(url, "tok", ds)
        assert second == {**first, "datasource": "updated", "folder": "kept"}
        again = FakeGrafana.calls[n_calls:]
        assert ("PUT", f"/api/datasources/uid/{ds['uid']}") in again  # the datasource updated in place
        assert ("POST", "/api/folders") not in again and ("POST", "/api/datasources") not in again
        assert sum(1 for c in again if c == ("POST", "/api/dashboards/db")) == len(DASHBOARDS)
        assert set(FakeGrafana.state["dashboards"]) == set(first["dashboards"])  # overwritten by uid
        assert FakeGrafana.refused == []  # nothing Grafana would have refused
    finally:
        srv.shutdown()
