"""Procedures (runbooks), pure: what the operator does about an alert, as a checklist in every language.

citywatch packages one per rule family and CCTV event type (``alerts/runbooks.yaml``, written for a Korean
control centre: 112 police, 119 fire and ambulance, the district's duty room); a centre's own, in the rules
file (``policies.{rule}.runbook``), wins over a packaged one that is no more specific. A CCTV incident's
procedure (``cctv.incident.{type}``) is the incident's own steps followed by its event type's, so a fall
seen by three cameras calls 119, not 112.

Every language has the same number of steps, so that a step ticked in one is the same step in the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from citywatch.i18n import DEFAULT, LANGUAGES
from citywatch.strict import RulesError

PACKAGED = Path(__file__).with_name("runbooks.yaml")
INCIDENT = "cctv.incident"
#: the audit actions of a step ticked and un-ticked; their detail is the step as :func:`step_detail` writes it
STEP_ACTIONS = ("step_done", "step_undone")


def step_detail(step: int, text: str) -> str:
    return f"{step}. {text}"


def step_of(detail: str) -> int:
    """The step an audit entry's detail names (:func:`step_detail`)."""
    return int(detail.split(".", 1)[0])


@dataclass(frozen=True, slots=True)
class Procedure:
    """A checklist: per language, its steps in order."""

    steps: Mapping[str, tuple[str, ...]]

    def __len__(self) -> int:
        return len(next(iter(self.steps.values()), ()))

    def __add__(self, more: Procedure) -> Procedure:
        return Procedure({lang: (*self.steps[lang], *more.steps[lang]) for lang in self.steps})

    def read(self, language: str) -> tuple[str, ...]:
        """The steps in ``language``, else in the default language, else in any it has."""
        for lang in (language, DEFAULT, *self.steps):
            if lang in self.steps:
                return self.steps[lang]
        return ()

    def as_json(self) -> dict[str, list[str]]:
        return {lang: list(steps) for lang, steps in self.steps.items()}


def procedure(value: Any, where: str, complete: bool = False) -> Procedure:
    """A procedure as a file writes it: a text (one step, the same in every language), a list of steps, or
    per language a list of steps; ``complete``: every language citywatch is written in, none other."""
    if isinstance(value, str):
        value = [value]
    if value == []:
        raise RulesError(where, "a procedure needs at least one step")
    if isinstance(value, list):
        value = {lang: value for lang in LANGUAGES}
    if not isinstance(value, dict) or not value:
        raise RulesError(where, "a procedure is a text, a list of steps, or per language (ko, en) a list")
    unknown = sorted(set(value) - set(LANGUAGES))
    if unknown:
        raise RulesError(f"{where}.{unknown[0]}", f"unknown language (known: {', '.join(LANGUAGES)})")
    if complete and (missing := [lang for lang in LANGUAGES if lang not in value]):
        raise RulesError(f"{where}.{missing[0]}", "missing: every language needs the procedure")
    steps: dict[str, tuple[str, ...]] = {}
    for lang, items in value.items():
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(s, str) and s.strip() for s in items)
        ):
            raise RulesError(f"{where}.{lang}", "a list of steps, each a text that is not empty")
        steps[str(lang)] = tuple(s.strip() for s in items)
    if len({len(s) for s in steps.values()}) > 1:
        counts = ", ".join(f"{lang}: {len(s)}" for lang, s in steps.items())
        raise RulesError(where, f"every language needs as many steps ({counts})")
    return Procedure(steps)


def parse(doc: Any, where: str = "runbooks") -> dict[str, Procedure]:
    """A catalogue (a mapping of rule or rule family to its procedure in every language), validated."""
    if not isinstance(doc, dict):
        raise RulesError(where, "expected a mapping of rule to procedure")
    return {str(rule): procedure(v, f"{where}.{rule}", complete=True) for rule, v in doc.items()}


@cache
def packaged() -> dict[str, Procedure]:
    """citywatch's own catalogue (``alerts/runbooks.yaml``)."""
    return parse(yaml.safe_load(PACKAGED.read_text(encoding="utf-8")), PACKAGED.name)


def _family(rule: str, names: Mapping[str, object]) -> str | None:
    """The most specific of ``names`` that is ``rule`` or a family of it (``cctv`` of ``cctv.fire``)."""
    matches = [n for n in names if rule == n or rule.startswith(n + ".")]
    return max(matches, key=len) if matches else None


def _packaged(rule: str, catalogue: Mapping[str, Procedure]) -> tuple[str, Procedure] | None:
    """The packaged procedure of ``rule`` and the name it is filed under; an incident's is the incident's
    steps, then its event type's."""
    if rule.startswith(INCIDENT + ".") and INCIDENT in catalogue:
        of_type = _packaged("cctv." + rule.removeprefix(INCIDENT + "."), catalogue)
        if of_type is not None:
            return rule, catalogue[INCIDENT] + of_type[1]
    name = _family(rule, catalogue)
    return (name, catalogue[name]) if name is not None else None


def procedure_for(
    rule: str, own: Mapping[str, Procedure], catalogue: Mapping[str, Procedure] | None = None
) -> Procedure | None:
    """The procedure of ``rule``: the centre's ``own`` (by rule or family) or the packaged one, whichever is
    filed under the more specific name; the centre's when they are as specific."""
    catalogue = packaged() if catalogue is None else catalogue
    mine, theirs = _family(rule, own), _packaged(rule, catalogue)
    if mine is not None and (theirs is None or len(mine) >= len(theirs[0])):
        return own[mine]
    return theirs[1] if theirs is not None else None


def ticked(trail: Iterable[Mapping[str, Any]]) -> dict[int, tuple[str, Any]]:
    """The steps an alert's audit ``trail`` (entries with action, actor, at, detail; oldest first) leaves
    ticked: per step, who ticked it and when; an un-tick after a tick leaves it open."""
    done: dict[int, tuple[str, Any]] = {}
    for entry in trail:
        if entry["action"] in STEP_ACTIONS:
            n = step_of(entry["detail"])
            if entry["action"] == STEP_ACTIONS[0]:
                done[n] = (entry["actor"], entry["at"])
            else:
                done.pop(n, None)
    return done
