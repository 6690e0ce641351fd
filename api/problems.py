"""Errors in one JSON shape: RFC 9457 problem details (``application/problem+json``).

Every error the API returns — validation, auth, not found, conflicts, rate
limits, and unexpected failures — has ``type``, ``title``, ``status`` and
``detail``; validation errors add ``errors`` naming each field and why. No
stack trace ever reaches the client: unexpected errors are logged with a
reference the operator can quote, and the client sees only that reference.

``title`` and ``detail`` are in the reader's language (``?lang=``, else the
``Accept-Language`` header, else the city's: :func:`citywatch.i18n.negotiate`),
from the services' catalogue (``error.*`` and ``problem.*`` of
``citywatch/texts.yaml``); ``type`` is the same in every language, for programs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from citywatch import i18n
from citywatch.i18n import Text

log = logging.getLogger("citywatch.api")

MEDIA_TYPE = "application/problem+json"
BASE = "https://citywatch.dev/problems/"


class FieldError(BaseModel):
    field: str = Field(examples=["query.limit"])
    message: str = Field(examples=["Input should be less than or equal to 500"])


class ProblemDetails(BaseModel):
    type: str = Field(examples=[BASE + "not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["alert 42 does not exist"])
    instance: str | None = Field(None, examples=["/api/v1/alerts/42"])
    errors: list[FieldError] | None = None


_TITLES = {
    400: ("bad-request", "Bad Request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not Found"),
    405: ("method-not-allowed", "Method Not Allowed"),
    406: ("not-acceptable", "Not Acceptable"),
    409: ("conflict", "Conflict"),
    413: ("too-large", "Request Too Large"),
    415: ("unsupported-media-type", "Unsupported Media Type"),
    422: ("validation", "Validation Failed"),
    429: ("rate-limited", "Too Many Requests"),
    500: ("internal", "Internal Server Error"),
    503: ("unavailable", "Service Unavailable"),
}


#: OpenAPI ``responses=`` entries for the problems a route may return
def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {
        c: {
            "model": ProblemDetails,
            "description": _TITLES.get(c, ("", "Error"))[1],
            "content": {MEDIA_TYPE: {}},
        }
        for c in codes
    }


class Problem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self, status: int, detail: str | Text, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        """``detail``: a :class:`~citywatch.i18n.Text` of the catalogue (read in the reader's language), or a
        string of the library or file that said what is wrong (as it said it)."""
        super().__init__(detail if isinstance(detail, str) else i18n.render(detail))
        self.status = status
        self.detail = detail
        self.headers = headers
        self.extra = extra


def reader_language(request: Request) -> str:
    """The language the person asking reads (:func:`citywatch.i18n.negotiate`): ``?lang=``, else their
    browser's ``Accept-Language``, else the city's."""
    asked = request.query_params.get("lang")
    city = getattr(getattr(request.app.state, "citywatch", None), "settings", None)
    return i18n.negotiate(
        asked, request.headers.get("accept-language"), getattr(city, "language", i18n.DEFAULT)
    )


def problem_response(
    request: Request,
    status: int,
    detail: str | Text,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    slug, title = _TITLES.get(status, ("error", "Error"))
    language = reader_language(request)
    if f"problem.{status}" in i18n.texts()[language]:
        title = i18n.render(Text(f"problem.{status}"), language)
    body: dict[str, Any] = {
        "type": BASE + slug,
        "title": title,
        "status": status,
        "detail": detail if isinstance(detail, str) else i18n.render(detail, language),
        "instance": request.url.path,
        **extra,
    }
    if isinstance(errors := body.get("errors"), list):  # each field's message in the reader's words too
        body["errors"] = [
            {k: i18n.render(v, language) if isinstance(v, Text) else v for k, v in e.items()} for e in errors
        ]
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def invalid(error: Mapping[str, Any]) -> Text | str:
    """A validation error (pydantic's) as a text of the catalogue by its type (``validation.*``), whose
    context it names; else as pydantic said it."""
    text = Text(f"validation.{error.get('type')}", {k: str(v) for k, v in (error.get("ctx") or {}).items()})
    try:
        i18n.render(text)
    except (KeyError, IndexError, ValueError):  # a type the catalogue lacks, or a context it does not name
        return str(error.get("msg", ""))
    return text


def _said(error: Mapping[str, Any], language: str) -> str:
    said = invalid(error)
    return i18n.render(said, language) if isinstance(said, Text) else said


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc.status, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail: str | Text = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if detail == HTTPStatus(exc.status_code).phrase:  # Starlette's own ("Not Found"): the reader's words
            detail = Text(f"problem.{exc.status_code}")
        return problem_response(request, exc.status_code, detail, dict(exc.headers or {}) or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        language = reader_language(request)
        errors = [{"field": _field(e.get("loc", ())), "message": _said(e, language)} for e in exc.errors()]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(request, 422, Text("error.invalid_request", {"what": summary}), errors=errors)

    @app.exception_handler(psycopg.DataError)
    async def _data(request: Request, exc: psycopg.DataError) -> JSONResponse:
        # a value the database cannot hold: NUL characters, timestamps beyond its range, …
        why = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
        return problem_response(request, 422, Text("error.unstorable", {"why": why}))

    @app.exception_handler(psycopg.IntegrityError)
    async def _integrity(request: Request, exc: psycopg.IntegrityError) -> JSONResponse:
        why = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
        status = 409 if isinstance(exc, psycopg.errors.UniqueViolation) else 422
        return problem_response(request, status, Text("error.not_accepted", {"why": why}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s on %s %s", ref, request.method, request.url.path)
        return problem_response(request, 500, Text("error.unexpected", {"ref": ref}))
