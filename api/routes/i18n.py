"""What the web pages are written in: their message catalogue (``api/web/messages.json``, Korean and
English), the city's language and time zone. Public: the sign-in page reads it before anyone signs in."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.catalogue import messages
from api.deps import State
from api.schemas import WebCatalogue
from citywatch import i18n

router = APIRouter(tags=["auth"])


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
