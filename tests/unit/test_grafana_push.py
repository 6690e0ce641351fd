"""`citywatch grafana push` through the real grafana-client library against a stand-in of the few
Grafana HTTP API endpoints it uses (no Grafana server can be installed on this machine): the first
push creates the datasource, the folder and every dashboard; the second changes nothing new."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from grafana.build import datasource, push
from grafana.dashboards import DASHBOARDS, FOLDER


class FakeGrafana(BaseHTTPRequestHandler):
    state: ClassVar[dict[str, Any]] = {}
    calls: ClassVar[list[tuple[str, str]]] = []

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
        assert self.headers["Authorization"] == "Bearer tok"
        if self.path.startswith("/api/datasources/uid/"):
            ds = self.state.get("ds")
            return self._send(200, ds) if ds else self._send(404, {"message": "not found"})
        if self.path.startswith("/api/folders/"):
            f = self.state.get("folder")
            return self._send(200, f) if f else self._send(404, {"message": "not found"})
        self._send(404, {"message": "unknown"})

    def do_POST(self) -> None:
        self.calls.append(("POST", self.path))
        body = self._body()
        if self.path == "/api/datasources":
            self.state["ds"] = body
            return self._send(200, {"id": 1, "message": "Datasource added"})
        if self.path == "/api/folders":
            self.state["folder"] = body
            return self._send(200, {"uid": body["uid"], "title": body["title"]})
        if self.path == "/api/dashboards/db":
            self.state.setdefault("dashboards", {})[body["dashboard"]["uid"]] = body
            return self._send(200, {"status": "success", "uid": body["dashboard"]["uid"]})
        self._send(404, {"message": "unknown"})

    def do_PUT(self) -> None:
        self.calls.append(("PUT", self.path))
        self.state["ds"] = self._body()
        self._send(200, {"message": "Datasource updated"})

    def log_message(self, *_a: object) -> None:
        pass


def test_push_creates_then_updates_idempotently() -> None:
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
        snapshot = json.dumps(FakeGrafana.state, sort_keys=True)
        second = push(url, "tok", ds)
        assert second == {**first, "datasource": "updated", "folder": "kept"}
        assert json.dumps(FakeGrafana.state, sort_keys=True) == snapshot  # same content: nothing new
    finally:
        srv.shutdown()
