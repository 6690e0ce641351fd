"""The rules in force, read-only through the API (and the console's Rules view): thresholds, each rule's
policy with its runbook, and the notification routes with webhook tokens kept out of sight."""

from __future__ import annotations

import pytest

from alerts.routing import shown as redact_sink
from tests.support import Api


def test_the_rules_in_force_are_readable_by_viewers(api: Api) -> None:
    with api.client("viewer") as v:
        r = v.get("/api/v1/rules")
        assert r.status_code == 200, r.text
        rules = r.json()
    assert rules["source"].startswith("packaged")
    fire = rules["policies"]["cctv.fire"]
    assert (fire["escalate_after_s"], fire["remind_after_s"]) == (120, 1800) and fire["runbook"] is None
    assert any("119" in s for s in rules["runbooks"]["cctv.fire"]["ko"])  # the packaged procedure
    assert fire["escalate_again_after_s"] == [480]  # the chain: level 2 eight minutes after level 1
    assert rules["default_policy"]["escalate_after_s"] == 600 and rules["default_policy"]["runbook"] is None
    assert rules["thresholds"]["outage"]["min_devices"] == 3
    assert rules["thresholds"]["shapes"]["pollutants"] == ["pm25", "pm10", "o3", "no2", "co", "so2"]
    assert rules["notifications"]["webhook:*"]["min_severity"] == "warning"
    assert rules["notifications"]["webhook:*"]["min_escalation_level"] == 0
    assert api.client(None).get("/api/v1/rules").status_code == 401
    assert rules["analytics"] is None  # no analytics service has said which version it runs
    # an analytics service on the same database says so when it starts: the same version as the file
    from analytics.service import AnalyticsService

    AnalyticsService(api.platform.settings()).conn.close()
    with api.client("viewer") as v:
        said = v.get("/api/v1/rules").json()
    assert said["analytics"]["same_as_file"] is True and said["analytics"]["digest"] == said["digest"]
    assert said["analytics"]["refused"] is None


@pytest.mark.parametrize(
    ("sink", "shown"),
    [
        ("mqtt", "mqtt"),
        ("webhook:*", "webhook:*"),
        ("webhook:https://sms.example/hook?token=s3cret", "webhook:https://sms.example/…"),
        ("webhook:https://user:pw@sms.example:8443/t/abc", "webhook:https://sms.example:8443/…"),
        ("webhook:http://127.0.0.1:9000", "webhook:http://127.0.0.1:9000"),
    ],
)
def test_webhook_urls_are_shown_without_their_secrets(sink: str, shown: str) -> None:
    assert redact_sink(sink) == shown
