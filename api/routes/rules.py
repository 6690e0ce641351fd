"""The analytics rules in force, read-only: thresholds, per-zone overrides, each rule's policy (when it
escalates and reminds, its runbook) and which notifications each sink takes — so a supervisor can see
why the platform behaves as it does without reading the YAML on the server."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter

from alerts import runbooks
from alerts.config import default_policy
from alerts.model import Policy
from alerts.routing import shown
from analytics.config import IN_FORCE, RulesFile
from api.deps import State, Viewer
from api.problems import Problem, responses
from api.schemas import RulesView
from citywatch.i18n import Text
from citywatch.strict import RulesError

router = APIRouter(tags=["alerts"])


def policy_view(p: Policy) -> dict[str, Any]:
    return {**dataclasses.asdict(p), "runbook": p.runbook.as_json() if p.runbook else None}


@router.get(
    "/rules",
    response_model=RulesView,
    summary="The analytics rules in force (thresholds, policies with runbooks, notification routes)",
    responses=responses(401, 503),
)
def rules(st: State, _who: Viewer) -> dict[str, Any]:
    a = st.settings.analytics
    default = default_policy(a.reopen_window_s, a.escalate_after_s)
    try:
        f = RulesFile(a.rules_file, default)
    except RulesError as e:
        raise Problem(503, Text("error.rules", {"why": str(e)})) from None
    r = f.rules
    row = st.db.one("SELECT state, updated_at FROM analytics_state WHERE name = %s", (IN_FORCE,))
    analytics = None
    if row is not None:
        s = row["state"]
        analytics = {
            "digest": s["digest"],
            "same_as_file": s["digest"] == f.digest,
            "refused": s.get("refused"),
            "reported_at": row["updated_at"],
        }
    return {
        "digest": f.digest,
        "analytics": analytics,
        "source": str(a.rules_file) if a.rules_file else "packaged (analytics/rules.yaml)",
        "thresholds": {
            **{
                name: dataclasses.asdict(getattr(r, name))
                for name in ("quality", "cctv", "parking", "shapes", "outage", "broker")
            },
            "delivery": dataclasses.asdict(r.alerting.delivery),
        },
        "zones": dict(sorted(r.zone_own.items())),
        "devices": dict(sorted(r.device_own.items())),
        "default_policy": policy_view(default),
        "policies": {rule: policy_view(p) for rule, p in sorted(r.alerting.policies.items())},
        "runbooks": {rule: p.as_json() for rule, p in sorted(runbooks.packaged().items())},
        "notifications": {
            shown(s): dataclasses.asdict(route) for s, route in sorted(r.alerting.notifications.items())
        },
    }
