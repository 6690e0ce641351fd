"""Errors in one JSON shape: RFC 9457 problem details (``application/problem+json``).

Every error the API returns — validation, auth, not found, conflicts, rate
limits, and unexpected failures — has ``type``, ``title``, ``status`` and
``detail``; validation errors add ``errors`` naming each field and why. No
stack trace ever reaches the client: unexpected errors are logged with a
reference the operator can quote, and the client sees only that reference.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

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
        self, status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        self.extra = extra


def problem_response(
    request: Request,
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    slug, title = _TITLES.get(status, ("error", "Error"))
    body: dict[str, Any] = {
        "type": BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc.status, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return problem_response(request, exc.status_code, detail, dict(exc.headers or {}) or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg", ""))} for e in exc.errors()]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(request, 422, f"invalid request: {summary}", errors=errors)

    @app.exception_handler(psycopg.DataError)
    async def _data(request: Request, exc: psycopg.DataError) -> JSONResponse:
        # a value the database cannot hold: NUL characters, timestamps beyond its range, …
        why = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
        return problem_response(request, 422, f"a value cannot be stored or compared: {why}")

    @app.exception_handler(psycopg.IntegrityError)
    async def _integrity(request: Request, exc: psycopg.IntegrityError) -> JSONResponse:
        why = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
        status = 409 if isinstance(exc, psycopg.errors.UniqueViolation) else 422
        return problem_response(request, status, f"not accepted: {why}")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s on %s %s", ref, request.method, request.url.path)
        return problem_response(request, 500, f"unexpected error; reference {ref} in the API log")
