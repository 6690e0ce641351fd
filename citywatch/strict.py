"""Sections of a configuration file read strictly (the rules file's thresholds, policies and routes).

A section is a mapping that becomes a frozen dataclass: an unknown key, a wrong type or a negative
number is a :class:`RulesError` that names the offending key (``delivery.late_s``), so an operator's
edit is refused with the reason instead of being half applied.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

T = TypeVar("T")


class RulesError(ValueError):
    """The rules file is not valid; ``where`` names the key."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"rules file: {where}: {problem}")
        self.where = where
        self.problem = problem


def build(cls: type[T], data: Any, where: str) -> T:
    """``data`` (a mapping, or None: every default) as the dataclass ``cls``, validated."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RulesError(where, f"expected a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise RulesError(f"{where}.{unknown[0]}", f"unknown setting (known: {', '.join(sorted(names))})")
    try:
        value = TypeAdapter(cls).validate_python(data)
    except ValidationError as e:
        err = e.errors()[0]
        raise RulesError(".".join([where, *map(str, err["loc"])]), err["msg"]) from None
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        v = getattr(value, f.name)
        if isinstance(v, int | float) and not isinstance(v, bool) and v < 0:
            raise RulesError(f"{where}.{f.name}", "must not be negative")
    return value


def checked(cls: type[T], data: Any, where: str, check: Any) -> T:
    """:func:`build`, then ``check(value)``: None, or ``"key: what is wrong"`` (raised as a RulesError)."""
    value = build(cls, data, where)
    if problem := check(value):
        key, what = problem.split(": ", 1)
        raise RulesError(f"{where}.{key}", what)
    return value
