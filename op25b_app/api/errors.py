"""Map errors to HTTP responses, all with the same ``ErrorBody`` shape.

* ``ValidationError`` (service) and request-shape errors (pydantic) -> 400
  with the offending ``field`` and ``value``: an operator fixing a script
  needs to know which key of which attachment was wrong. FastAPI's default
  422 is replaced so that every bad input is one status, whichever layer
  noticed it.
* ``NotFound`` -> 404, ``Conflict`` -> 409.
* ``StoredDataError`` (stored data the compiler refuses, e.g. two accounts on
  the same match written by raw SQL) -> 409: the request is fine, the data
  conflicts.
* Every body is bounded (``echo``): values, fields and messages are cut,
  whoever built them (route, handler or middleware), via ``error_response``.
* ``DatabaseUnavailable`` -> 503, so a client can tell "retry later" from
  "bug". SQLAlchemy's ``OperationalError``/``InterfaceError`` are mapped the
  same way as a fallback, for any path where the service lets one through.

Only the service's public errors are imported, never ``op25b_app.db`` or the
compiler: the service translates what they raise.

Anything else is a bug: it is logged with its traceback and answered 500
without details.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from op25b_app.api.echo import MAX_ECHO_CHARS, bounded_message, echo_text, echo_value
from op25b_app.api.schemas import ErrorBody
from op25b_app.service import (
    Conflict,
    DatabaseUnavailable,
    NotFound,
    StoredDataError,
    ValidationError,
)

log = logging.getLogger(__name__)

__all__ = ["MAX_ECHO_CHARS", "error_response", "error_responses", "install_error_handlers"]

_DESCRIPTIONS: dict[int, str] = {
    400: "Bad input: the body names the offending field and value; nothing was written.",
    401: "Missing or unknown bearer token.",
    403: "The token's scope is 'read'; this operation writes.",
    404: "No such object.",
    409: "Conflicts with what is stored (duplicate, overlap, still in use); nothing was written.",
    413: "Request body larger than the configured maximum.",
    503: "The database is unreachable; retry later.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for ``codes``, all with ``ErrorBody``."""
    result: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"model": ErrorBody, "description": _DESCRIPTIONS[code]}
        if code == 401:
            entry["headers"] = {
                "WWW-Authenticate": {
                    "description": "Bearer challenge (RFC 6750).",
                    "schema": {"type": "string"},
                }
            }
        result[code] = entry
    return result


def error_response(status: int, message: str, field: str | None = None,
                   value: Any = None, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A JSON ``ErrorBody`` response, every part bounded (``echo``).

    The one way any error body is made - routes, handlers and middleware -
    so none of them can send a client's megabyte back.
    """
    body = {"error": bounded_message(message, value),
            "field": None if field is None else echo_text(field),
            "value": echo_value(value)}
    return JSONResponse(body, status_code=status, headers=headers)


def _request_error_field(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    if error.get("type") == "json_invalid":
        return "body"
    if loc and loc[0] in ("body", "query", "path", "header"):
        # Keep the location word only when nothing more specific is known.
        loc = loc[1:] or loc[:1]
    return ".".join(loc) or "body"


async def _on_request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if not errors:
        return error_response(400, "invalid request", "body", None)
    first = errors[0]
    content_type = request.headers.get("content-type")
    if (tuple(first.get("loc", ())) == ("body",) and isinstance(first.get("input"), bytes)
            and content_type is not None and not _is_json(content_type)):
        # FastAPI hands a non-JSON body over as bytes; say what is really wrong.
        return error_response(400, "request body must be JSON (Content-Type: application/json)",
                              "Content-Type", content_type)
    field = echo_text(_request_error_field(first))  # a body key can be 1 MB long
    value = None if first.get("type") in ("missing", "json_invalid") else first.get("input")
    message = first.get("msg", "invalid value")
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error")
        message = f"body is not valid JSON: {detail}" if detail else "body is not valid JSON"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return error_response(400, f"field '{field}': {message}{more}", field, value)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ValidationError)
    return error_response(400, str(exc), exc.field, exc.value)


async def _on_not_found(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotFound)
    return error_response(404, str(exc), exc.field, exc.value)


async def _on_conflict(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Conflict)
    return error_response(409, str(exc), exc.field, exc.value)


async def _on_stored_data(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StoredDataError)
    # Logged: someone has to fix the row, and the client cannot.
    log.error("%s %s: %s", request.method, request.url.path, exc)
    return error_response(409, str(exc), exc.field, exc.value)


async def _on_http_exception(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    cause = exc.__cause__
    if exc.status_code == 400 and isinstance(cause, (ValueError, RecursionError)):
        # FastAPI's "There was an error parsing the body" for what json.loads
        # refuses beyond JSON syntax; the cause says which.
        return error_response(400, f"body is not valid JSON: {_parse_failure(cause)}", "body")
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


def _parse_failure(cause: Exception) -> str:
    """Why the JSON parser gave up, in words a client can act on."""
    if isinstance(cause, RecursionError):
        return "nested too deeply"
    if isinstance(cause, UnicodeDecodeError):
        return f"not UTF-8 text (byte {cause.start})"
    if "integer string conversion" in str(cause):
        # Python refuses to parse integers of more than 4300 digits.
        return "a number has too many digits"
    return str(cause)


async def _on_database_down(request: Request, exc: Exception) -> JSONResponse:
    # Only the driver's reason is logged, not DatabaseUnavailable's URL (which
    # may carry a password); SQLAlchemy's errors hold the driver's as ``orig``.
    text = str(exc.reason if isinstance(exc, DatabaseUnavailable)
               else getattr(exc, "orig", None) or exc)
    first_line = (text.strip().splitlines() or ["(no message)"])[0]
    log.error("%s %s: database error: %s", request.method, request.url.path, first_line)
    return error_response(503, "database unavailable; retry later")


async def _on_bug(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s: unexpected error", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error (logged by the API process)")


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler above on ``app``."""
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(ValidationError, _on_validation)
    app.add_exception_handler(NotFound, _on_not_found)
    app.add_exception_handler(Conflict, _on_conflict)
    app.add_exception_handler(StoredDataError, _on_stored_data)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(DatabaseUnavailable, _on_database_down)
    app.add_exception_handler(OperationalError, _on_database_down)
    app.add_exception_handler(InterfaceError, _on_database_down)
    app.add_exception_handler(Exception, _on_bug)
