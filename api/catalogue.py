"""The web pages' message catalogue (``api/web/messages.json``, every language of
:data:`citywatch.i18n.LANGUAGES`): served to the pages (:mod:`api.routes.i18n`) and used by what the API
writes for people in their words (the shift report's text)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import orjson

from citywatch import i18n

CATALOGUE = Path(__file__).resolve().parent / "web" / "messages.json"


@cache
def messages() -> dict[str, dict[str, str]]:
    """The catalogue, checked once (:func:`citywatch.i18n.catalogue_problems`): a key missing in a language
    fails the start, not a page."""
    doc: dict[str, dict[str, str]] = orjson.loads(CATALOGUE.read_bytes())
    if problems := i18n.catalogue_problems(doc):
        raise ValueError(f"{CATALOGUE}: " + "; ".join(problems[:5]))
    return doc
