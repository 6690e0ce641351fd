"""The alerts' half of the rules file (pure): what happens to an alert once a rule has raised it.

- ``policies``: per rule (or rule family: ``cctv`` covers ``cctv.fire``), when a resolved alert re-opens
  instead of opening anew, when an unacknowledged critical one escalates and up which chain, when an
  acknowledged one is reminded; a rule the file names no policy for gets the service's default;
- ``notifications``: per sink (``mqtt``, ``webhook:*``, ``webhook:{url}``), which alerts it is sent
  (:mod:`alerts.routing`);
- ``delivery``: when a sink that does not get notifications out is itself an alert (:mod:`alerts.delivery`).

The analytics' half (thresholds per domain, zone and device) is :mod:`analytics.config`; both are read
from the one file, and an edit to either is refused whole, naming the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from alerts.delivery import DeliveryConfig
from alerts.delivery import check as check_delivery
from alerts.model import Policy
from alerts.routing import Route
from alerts.routing import check as check_route
from alerts.runbooks import procedure, procedure_for
from citywatch.strict import RulesError, build, checked

#: the top-level sections of the rules file that are the alerts'
SECTIONS = ("policies", "notifications", "delivery")


@dataclass(frozen=True)
class AlertRules:
    policies: dict[str, Policy] = field(default_factory=dict)  # per rule or rule family
    notifications: dict[str, Route] = field(default_factory=dict)  # per sink (alerts.routing)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)  # sinks not getting notifications out
    default: Policy = field(default_factory=Policy)  # of a rule the file names no policy for
    _resolved: dict[str, Policy] = field(default_factory=dict, init=False, repr=False, compare=False)

    def policy_for(self, rule: str) -> Policy:
        """The policy of ``rule``: the most specific family the file names (``cctv.fire`` over ``cctv``),
        else the default; with the rule's own procedure (:func:`alerts.runbooks.procedure_for`: the centre's
        or the packaged one, whichever is filed more specifically)."""
        if (known := self._resolved.get(rule)) is not None:
            return known
        matches = [p for p in self.policies if rule == p or rule.startswith(p + ".")]
        policy = self.policies[max(matches, key=len)] if matches else self.default
        own = {name: p.runbook for name, p in self.policies.items() if p.runbook is not None}
        self._resolved[rule] = resolved = dataclasses.replace(policy, runbook=procedure_for(rule, own))
        return resolved

    def all_policies(self) -> tuple[Policy, ...]:
        """The default and every policy the file names: the bounds of what may be due."""
        return (self.default, *self.policies.values())


def default_policy(reopen_window_s: float, escalate_after_s: float | None) -> Policy:
    """The policy of a rule the rules file names none for: the service's settings."""
    return Policy(reopen_window_s=reopen_window_s, escalate_after_s=escalate_after_s)


def _policy(p: Policy, where: str) -> Policy:
    """A rule's policy, with the checks across its settings."""
    if any(t <= 0 for t in p.escalate_again_after_s):
        raise RulesError(f"{where}.escalate_again_after_s", "every step must be more than 0 seconds")
    if p.escalate_again_after_s and p.escalate_after_s is None:
        raise RulesError(
            f"{where}.escalate_again_after_s", "a chain needs its first step: escalate_after_s is null"
        )
    return p


def _with_runbook(base: dict[str, Any], p: Any, where: str) -> Policy:
    """A rule's policy as the file writes it, its runbook read as a procedure (:func:`alerts.runbooks.procedure`)."""
    if p is not None and not isinstance(p, dict):
        raise RulesError(where, f"expected a mapping, got {type(p).__name__}")
    p = dict(p or {})
    own = procedure(p.pop("runbook"), f"{where}.runbook") if p.get("runbook") is not None else None
    return dataclasses.replace(build(Policy, {**base, **p}, where), runbook=own)


def parse(doc: dict[str, Any], default: Policy | None = None) -> AlertRules:
    """The alerts' sections of a parsed rules file (``doc``), validated."""
    default = default or Policy()
    base = {k: v for k, v in dataclasses.asdict(default).items() if k != "runbook"}
    policies = {
        str(rule): _policy(_with_runbook(base, p, f"policies.{rule}"), f"policies.{rule}")
        for rule, p in (doc.get("policies") or {}).items()
    }
    notifications: dict[str, Route] = {}
    for sink, section in (doc.get("notifications") or {}).items():
        sink = str(sink)
        if sink != "mqtt" and not sink.startswith("webhook:"):
            raise RulesError(f"notifications.{sink}", "a sink is 'mqtt', 'webhook:*' or 'webhook:{url}'")
        notifications[sink] = checked(Route, section, f"notifications.{sink}", check_route)
    delivery = checked(DeliveryConfig, doc.get("delivery"), "delivery", check_delivery)
    return AlertRules(policies, notifications, delivery, default)
