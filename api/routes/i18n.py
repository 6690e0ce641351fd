"""What the web pages are written in: their message catalogue (``api/web/messages.json``, Korean and
English), the city's language and time zone. Public: the sign-in page reads it before anyone signs in."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter

from api.deps import State
from api.schemas import WebCatalogue
from citywatch import i18n

CATALOGUE = Path(__file__).resolve().parents[1] / "web" / "messages.json"

router = APIRouter(tags=["auth"])


@cache
def messages() -> dict[str, dict[str, str]]:
    """The web pages' catalogue, checked once (:func:`citywatch.i18n.catalogue_problems`): a key missing in
    a language fails the start, not a page."""
    doc: dict[str, dict[str, str]] = orjson.loads(CATALOGUE.read_bytes())
    if problems := i18n.catalogue_problems(doc):
        raise ValueError(f"{CATALOGUE}: " + "; ".join(problems[:5]))
    return doc


@router.get(
    "/i18n",
    response_model=WebCatalogue,
    summary="The web pages' messages in every language, the city's language and time zone (public)",
)
def catalogue(st: State) -> dict[str, Any]:
    return {
        "default": st.settings.language,
        "timezone": st.settings.timezone,
        "languages": [{"code": c, "name": i18n.native_name(c)} for c in i18n.LANGUAGES],
        "messages": messages(),
    }
