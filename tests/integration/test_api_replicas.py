"""The API is stateless: several replicas (here a second `citywatch api` process with two uvicorn
workers behind one port, beside the test's own API) share nothing but the database. A token from one
is good at the other, and the live alert stream reaches subscribers of every replica and worker,
whichever replica the change went through (PostgreSQL LISTEN/NOTIFY is the fan-out)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import replace

import httpx

from tests.support import Api, Subscriber, raise_alert, wait_for
from tools.localservices import free_port


def test_replicas_share_tokens_and_the_live_stream(api: Api) -> None:
    port = free_port()
    s = api.settings
    env = {
        **os.environ,
        "CITYWATCH_DB_URL": s.db.url,
        "CITYWATCH_MQTT_PORT": str(s.mqtt.port),
        "CITYWATCH_DEVICE_SECRET": s.device_secret.get_secret_value(),
        "CITYWATCH_API_PORT": str(port),
        "CITYWATCH_API_WORKERS": "2",
        "CITYWATCH_API_TOKEN_SECRET": s.api.token_secret.get_secret_value(),
        "CITYWATCH_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen([sys.executable, "-m", "tools", "api"], env=env, start_new_session=True)
    other = replace(api, url=f"http://127.0.0.1:{port}")
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{other.url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        assert wait_for(up, 30), "the second replica did not start"
        token = api.token("operator")  # issued by the first replica …
        with httpx.Client(base_url=other.url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as c:
            assert c.get("/api/v1/auth/me").json()["name"] == "operator"  # … honoured by the second
        # subscribers on both replicas; the second replica's several connections land on both its workers
        subs = [Subscriber(api, token)] + [Subscriber(other, token) for _ in range(4)]
        assert wait_for(lambda: all(sub.comments for sub in subs), 15)
        pids = {
            int(p)
            for p in subprocess.run(
                ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
            ).stdout.split()
        }
        assert len(pids) >= 2  # uvicorn runs two worker processes behind the one port
        raise_alert(api, "replica-a")  # a change made straight in the database (as the analytics engine does)
        assert wait_for(lambda: all(len(sub.events) == 1 for sub in subs), 15), [len(x.events) for x in subs]
        aid = api.platform.scalar("SELECT id FROM alerts WHERE subject = 'replica-a'")
        with httpx.Client(base_url=other.url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as c:
            assert (
                c.post(f"/api/v1/alerts/{aid}/acknowledge").status_code == 200
            )  # through the second replica
        assert wait_for(lambda: all(len(sub.events) == 2 for sub in subs), 15), [len(x.events) for x in subs]
        for sub in subs:
            assert [(e[1], e[2]["subject"]) for e in sub.events] == [
                ("opened", "replica-a"),
                ("acknowledged", "replica-a"),
            ]
            assert (
                sub.events[0][0] == subs[0].events[0][0]
            )  # the same ids everywhere: resumable at any replica
            sub.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
