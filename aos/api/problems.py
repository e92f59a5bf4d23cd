"""RFC 9457 problem details for every error the API can answer; never a stack trace.

AosError subclasses carry their status and title. Request validation (bad JSON, schema mismatch, bad query
parameters) becomes 400/422 with a list of what was wrong where. Anything unexpected is logged with its
traceback server-side and answered as a plain 500 problem with a correlation id.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aos.errors import AosError

log = logging.getLogger("aos.api")
PROBLEM = "application/problem+json"
TYPE_BASE = "https://aos.dev/problems/"


def problem(status: int, kind: str, title: str, detail: str, instance: str | None = None,
            **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": TYPE_BASE + kind, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": 'Bearer realm="aos"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def from_error(e: AosError, instance: str | None = None) -> JSONResponse:
    extra: dict[str, Any] = {k: v for k, v in e.attrs.items() if isinstance(v, (str, int, float, bool))}
    errors = getattr(e, "errors", None)
    if errors:
        extra["errors"] = errors
    return problem(e.status, e.kind, e.title, e.detail, instance, **extra)


def _clean(errors: list[Any]) -> list[dict[str, Any]]:
    cleaned = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        cleaned.append({"loc": ".".join(loc), "msg": err.get("msg", ""), "type": err.get("type", "")})
    return cleaned


def install(app: FastAPI) -> None:
    @app.exception_handler(AosError)
    async def _aos(request: Request, e: AosError) -> JSONResponse:
        if e.status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, e.detail, exc_info=e)
        return from_error(e, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        errors = _clean(list(e.errors()))
        if any(err["type"] == "json_invalid" for err in errors):
            return problem(400, "malformed-json", "Malformed JSON", "the request body is not valid JSON",
                           request.url.path, errors=errors)
        detail = "; ".join(f"{err['loc']}: {err['msg']}" for err in errors[:5])
        return problem(422, "validation", "Invalid input", detail, request.url.path, errors=errors)

    @app.exception_handler(UnicodeError)
    async def _unicode(request: Request, e: UnicodeError) -> JSONResponse:
        # e.g. a JSON string with a lone surrogate ("\ud800"): valid JSON, not valid text
        reason = getattr(e, "reason", e)  # a bare UnicodeError (the idna codec's, say) has no `reason`
        return problem(400, "malformed-request", "Malformed request",
                       f"the request holds text that is not valid Unicode: {reason}", request.url.path)

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, e: RecursionError) -> JSONResponse:
        return problem(400, "malformed-request", "Malformed request",
                       "the request body is nested too deeply to parse", request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not-found", 405: "method-not-allowed"}.get(e.status_code, "http")
        return problem(e.status_code, kind, str(e.detail) if e.status_code != 404 else "Not found",
                       f"{request.method} {request.url.path}: {e.detail}", request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.error("unhandled error [incident=%s] %s %s", incident, request.method, request.url.path, exc_info=e)
        return problem(500, "internal", "Internal error",
                       f"unexpected error; the server log has the details under incident {incident}",
                       request.url.path, incident=incident)
