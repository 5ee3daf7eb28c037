"""Every error becomes the same envelope: `{"status": "error", "status_code": N, "detail": ...}`.

This module is the one place the error tree meets HTTP: a `CreditbookError` carries its own
status code; request validation errors become 400 with a field -> messages map; Starlette's own
404 / 405 get the envelope too. Anything unexpected is logged and answered 500 without details
by `api.observe.Observed`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from creditbook.api.responses import MoneyJSONResponse
from creditbook.errors import CreditbookError, TooManyFailures

HTTP_DETAIL = {
    401: "Authentication credentials were not provided.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
}


def envelope(status_code: int, detail: Any, headers: dict[str, str] | None = None) -> Response:
    body = {"status": "error", "status_code": status_code, "detail": detail}
    return MoneyJSONResponse(body, status_code=status_code, headers=headers)


async def _creditbook_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, CreditbookError)
    headers = {"WWW-Authenticate": "Token"} if error.status_code == 401 else None
    if isinstance(error, TooManyFailures):
        headers = {"Retry-After": str(error.retry_after_s)}
    return envelope(error.status_code, error.detail, headers)


async def _validation_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    fields: dict[str, list[str]] = {}
    for problem in error.errors():
        if problem.get("type") == "json_invalid":
            reason = (problem.get("ctx") or {}).get("error", "not valid JSON")
            fields.setdefault("body", []).append(f"The body is not valid JSON: {reason}.")
            continue
        location = [
            str(part)
            for part in problem.get("loc", ())
            if part not in ("body", "query", "path", "header")
        ]
        fields.setdefault(".".join(location) or "body", []).append(
            str(problem.get("msg", "Invalid value."))
        )
    return envelope(400, fields)


async def _http_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    # Our own words for Starlette's stock 404 / 405 phrases; any other detail passes through.
    detail = HTTP_DETAIL.get(error.status_code) if error.status_code in (404, 405) else None
    if detail is None:
        detail = error.detail if isinstance(error.detail, str) and error.detail else "Error."
    return envelope(error.status_code, detail, dict(error.headers or {}) or None)


def install(app: FastAPI) -> None:
    app.add_exception_handler(CreditbookError, _creditbook_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    # Anything else is answered by api.observe.Observed, the outermost layer.
