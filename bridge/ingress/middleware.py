"""
HTTP edge policies in one place: errors to JSON responses (also the raw ones
the listener writes before any request exists), the canonical log line,
request metrics, admission through the shutdown gate (concurrency cap,
refusal while shutting down), encrypted answers, and no `Server` header.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus

import orjson
import structlog
from aiohttp import HttpVersion11, hdrs, web

from bridge import crypto
from bridge.config import Secret
from bridge.errors import (
    BridgeError,
    ExpectationFailedError,
    HeadersTooLargeError,
    TransientError,
)
from bridge.ingress.state import SERVICES, Services

__all__ = [
    "answer_encrypted",
    "drop_server_header",
    "error_response",
    "expect_continue",
    "json_response",
    "middleware",
    "note",
    "raw_error_response",
]

log = structlog.get_logger("bridge.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_FIELDS = web.RequestKey("log_fields", dict[str, object])
_ANSWER_KEY = web.RequestKey("answer_key", Secret)
_UNMET = web.RequestKey("unmet_expectation", bool)


def note(request: web.Request, **fields: object) -> None:
    """Add fields to this request's canonical `webhook.handled` log line."""
    request[_FIELDS].update(fields)


def answer_encrypted(request: web.Request, key: Secret) -> None:
    """
    Encrypt this request's answer, whatever it turns out to be, with `key`.

    Called once the request is authenticated and `key` has decrypted its body;
    from then on every answer, errors included, is `{"data": "<ciphertext>"}`.
    """
    request[_ANSWER_KEY] = key


def json_response(status: int, body: dict[str, object], **headers: str) -> web.Response:
    """Return a JSON response serialized with orjson."""
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers=headers or None,
    )


def _error_parts(error: BridgeError) -> tuple[dict[str, object], dict[str, str]]:
    code, message = error.public
    headers: dict[str, str] = {}
    if isinstance(error, TransientError):
        headers["Retry-After"] = str(error.retry_after_s)
    return {"error": {"code": code, "message": message}}, headers


def error_response(error: BridgeError) -> web.Response:
    """Map a bridge error to its HTTP status and stable JSON error body."""
    body, headers = _error_parts(error)
    return json_response(error.status, body, **headers)


def raw_error_response(error: BridgeError) -> bytes:
    """
    Return a complete HTTP/1.1 error response that closes the connection.

    For answers the listener writes itself, before (or instead of) parsing a
    request: the same status and JSON body as `error_response`.
    """
    body, headers = _error_parts(error)
    payload = orjson.dumps(body)
    head = [
        f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return "\r\n".join(head).encode("ascii") + b"\r\n\r\n" + payload


def _encrypted(response: web.StreamResponse, key: Secret) -> web.StreamResponse:
    """Return `response` with its JSON body encrypted into `{"data": ...}`, status kept."""
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return response  # only the JSON answers built here have a bytes body
    retry = response.headers.get(hdrs.RETRY_AFTER)
    headers = {hdrs.RETRY_AFTER: retry} if retry is not None else {}
    return json_response(
        response.status, {"data": crypto.encrypt(response.body, key.value)}, **headers
    )


async def drop_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """Remove aiohttp's `Server: Python/... aiohttp/...` header (`on_response_prepare`)."""
    del request
    response.headers.popall(hdrs.SERVER, None)


def _head_size(request: web.Request) -> int:
    """Return the size of the request line and header lines as parsed (CRLFs included)."""
    line = len(request.method) + len(request.raw_path) + len(" HTTP/1.1\r\n") + 1
    return line + sum(len(name) + len(value) + 4 for name, value in request.raw_headers)


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _http_error(exc: web.HTTPException) -> web.Response:
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
        exc.status, "http_error"
    )
    return json_response(exc.status, {"error": {"code": code, "message": exc.reason}})


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the edge policies around every request (see the module docstring)."""
    services: Services = request.app[SERVICES]
    started = time.perf_counter()
    route = _route_name(request)
    webhook = route.startswith("/webhooks/")
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(route=route, method=request.method)
    fields: dict[str, object] = {}
    request[_FIELDS] = fields
    response: web.StreamResponse
    try:
        if _head_size(request) > services.settings.http.max_header_bytes:
            # An unfinished head is cut off by the listener; a complete one that arrived
            # in one piece is refused here, so the cap does not depend on TCP segmentation.
            raise HeadersTooLargeError("request head larger than the configured cap")
        if request.get(_UNMET):
            raise ExpectationFailedError("only Expect: 100-continue is supported")
        if webhook:
            with services.ingest.gate.admit():
                response = await handler(request)
        else:
            response = await handler(request)
    except BridgeError as exc:
        response = error_response(exc)
        if exc.status in (408, 413, 431):
            response.force_close()  # the rest of the body is still on the wire
        fields["error"] = exc.code
        if exc.public[1] != exc.message:  # what the client is not told, the operator is
            fields["error_detail"] = exc.message
    except web.HTTPException as exc:
        response = _http_error(exc)
    except Exception:  # the one place that turns a bug into a 500
        log.exception("http.unhandled_error")
        response = json_response(
            500, {"error": {"code": "internal_error", "message": "internal error"}}
        )
    key = request.get(_ANSWER_KEY)
    if key is not None:
        response = _encrypted(response, key)
        fields["answer_encrypted"] = True
    elapsed = time.perf_counter() - started
    services.metrics.request_done(route, response.status, elapsed)
    if webhook:
        services.http_log.info(
            "webhook.handled",
            status=response.status,
            latency_ms=round(elapsed * 1000, 2),
            **fields,
        )
    return response


async def expect_continue(request: web.Request) -> None:
    """
    aiohttp's `Expect` handling (100 Continue for `100-continue` on HTTP/1.1), except that
    another expectation is refused by the middleware, as a JSON 417 that is logged and
    counted, instead of aiohttp's plain-text answer before any middleware runs.
    """
    if request.version != HttpVersion11:
        return
    if request.headers.get(hdrs.EXPECT, "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the answer's own size starts after this line
    else:
        request[_UNMET] = True
