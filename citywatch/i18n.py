"""The languages people read citywatch in: Korean first, English available.

A person's language is the one they asked for (``?lang=``, their account's choice), else the first of their
browser's ``Accept-Language`` citywatch has, else the city's (``CITYWATCH_LANGUAGE``, default Korean).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any, Final

import yaml
from babel import Locale, UnknownLocaleError, negotiate_locale

KOREAN: Final = "ko"
ENGLISH: Final = "en"
#: every language citywatch is written in, the default first: a catalogue entry needs each of them
LANGUAGES: Final = (KOREAN, ENGLISH)
DEFAULT: Final = KOREAN


def known(language: str) -> str:
    """``language`` if citywatch is written in it; a ValueError naming those it is."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r} (one of {', '.join(LANGUAGES)})")
    return language


def accepted(header: str | None) -> list[str]:
    """The language tags of an ``Accept-Language`` header, most wanted first (``q=0`` left out; a malformed
    part is skipped, not an error: a browser's header never refuses a page)."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = -1.0
        if tag and q > 0:
            ranked.append((-q, i, tag.strip()))
    return [tag for _q, _i, tag in sorted(ranked)]


def negotiate(asked: str | None, header: str | None, default: str = DEFAULT) -> str:
    """The language to answer in: ``asked`` (a parameter or the account's choice) if citywatch has it, else
    the best of the ``Accept-Language`` header's (``ko-KR`` is Korean), else ``default``."""
    if asked in LANGUAGES:
        return str(asked)
    wanted = [t.replace("-", "_") for t in accepted(header) if t != "*"]
    return negotiate_locale(wanted, list(LANGUAGES)) or default


def native_name(language: str) -> str:
    """How a language calls itself (한국어, English): the label of a language switch."""
    try:
        return str(Locale.parse(language).get_display_name(language)).capitalize()
    except (UnknownLocaleError, ValueError):
        return language


PLACEHOLDER = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def catalogue_problems(messages: Mapping[str, Mapping[str, str]]) -> list[str]:
    """What is wrong with a catalogue of per-language messages (``{"ko": {key: text}, "en": {...}}``): a
    language missing, a key one language has and another lacks, an empty text, or a text whose
    placeholders (``{name}``) differ from the same key's in the default language."""
    problems = [f"language {lang!r} missing" for lang in LANGUAGES if lang not in messages]
    problems += [f"language {lang!r} is not one of citywatch's" for lang in messages if lang not in LANGUAGES]
    keys = set().union(*(m.keys() for m in messages.values())) if messages else set()
    for lang, texts in messages.items():
        problems += [f"{lang}: {k} missing" for k in sorted(keys - texts.keys())]
        problems += [f"{lang}: {k} is empty" for k, v in sorted(texts.items()) if not str(v).strip()]
    base = messages.get(DEFAULT, {})
    for lang, texts in messages.items():
        for k, v in sorted(texts.items()):
            if k in base and set(PLACEHOLDER.findall(v)) != set(PLACEHOLDER.findall(base[k])):
                problems.append(f"{lang}: {k} has placeholders {sorted(PLACEHOLDER.findall(v))}, "
                                f"{DEFAULT} has {sorted(PLACEHOLDER.findall(base[k]))}")  # fmt: skip
    return problems


# -- texts the services write (alert titles): recorded in English, read in any language -------------------
TEXTS = Path(__file__).with_name("texts.yaml")
PLACE = (
    "place"  # a text of this key is a place: {"id": device id or zone:{zone}}, named by the reader's registry
)
TIME = "time"  # a text of this key is a time of day: {"at": ISO 8601}, in the reader's time zone
SENTENCES = "sentences"  # a text of this key is whole sentences: {"parts": [texts]}, each complete in itself


@dataclass(frozen=True, slots=True)
class Text:
    """A sentence by its catalogue key and parameters (numbers, words, or texts of their own), so that it
    can be read in any language: no sentence is put together from pieces of another language."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> list[Any]:
        def value(v: Any) -> Any:
            return v.as_json() if isinstance(v, Text) else [value(x) for x in v] if isinstance(v, list) else v

        return [self.key, {k: value(v) for k, v in self.params.items()}]

    @staticmethod
    def from_json(value: Any) -> Text | None:
        """A text as :meth:`as_json` wrote it; None for anything else."""
        if not (
            isinstance(value, list)
            and len(value) == 2
            and isinstance(value[0], str)
            and isinstance(value[1], dict)
        ):
            return None

        def param(v: Any) -> Any:
            if (t := Text.from_json(v)) is not None:
                return t
            return [param(x) for x in v] if isinstance(v, list) else v

        return Text(value[0], {k: param(v) for k, v in value[1].items()})


def at(moment: datetime) -> Text:
    """A time of day, read in the reader's time zone (recorded in UTC)."""
    return Text(TIME, {"at": moment.isoformat()})


def sentences(*parts: Text | None) -> Text:
    """Whole sentences one after another (those given: an optional one may be None)."""
    return Text(SENTENCES, {"parts": [p for p in parts if p is not None]})


def place(ident: str, shown: str | None = None) -> Text:
    """A device or a zone (``zone:{zone}``), named by the reader's registry; ``shown``: how the recorded
    text writes it (else its id)."""
    return Text(PLACE, {"id": ident} if shown is None else {"id": ident, "shown": shown})


@cache
def texts() -> dict[str, dict[str, str]]:
    """The services' catalogue (``citywatch/texts.yaml``), checked: a key missing in a language is an error."""
    doc = yaml.safe_load(TEXTS.read_text(encoding="utf-8"))
    if problems := catalogue_problems(doc):
        raise ValueError(f"{TEXTS}: " + "; ".join(problems[:5]))
    return {lang: {str(k): str(v) for k, v in msgs.items()} for lang, msgs in doc.items()}


def render(
    text: Text,
    language: str = ENGLISH,
    places: Callable[[str], str] | None = None,
    zone: tzinfo | None = None,
) -> str:
    """``text`` in ``language``; a place named by ``places`` (None: as the recorded text writes it), a time
    of day in ``zone`` (None: UTC, as recorded). A key the catalogue lacks is a KeyError."""
    if text.key == PLACE:
        ident = str(text.params["id"])
        return places(ident) if places is not None else str(text.params.get("shown", ident))
    if text.key == TIME:
        moment = datetime.fromisoformat(str(text.params["at"])).astimezone(zone or UTC)
        return f"{moment:%H:%M:%S} {moment.tzname()}"
    if text.key == SENTENCES:
        return " — ".join(render(p, language, places, zone) for p in text.params["parts"])
    template = texts()[language if language in LANGUAGES else DEFAULT][text.key]
    values = {
        k: render(v, language, places, zone) if isinstance(v, Text) else v for k, v in text.params.items()
    }
    return template.format(**values)
