"""
HTTP edge policies in one place: errors to JSON responses, the canonical
log line, request metrics, and admission through the shutdown gate
(concurrency cap, refusal while shutting down).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import orjson
import structlog
from aiohttp import web

from bridge.errors import BridgeError, TransientError
from bridge.ingress.state import SERVICES, Services

__all__ = ["error_response", "json_response", "middleware", "note"]

log = structlog.get_logger("bridge.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_FIELDS = web.RequestKey("log_fields", dict[str, object])


def note(request: web.Request, **fields: object) -> None:
    """Add fields to this request's canonical `webhook.handled` log line."""
    request[_FIELDS].update(fields)


def json_response(status: int, body: dict[str, object], **headers: str) -> web.Response:
    """Return a JSON response serialized with orjson."""
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers=headers or None,
    )


def error_response(error: BridgeError) -> web.Response:
    """Map a bridge error to its HTTP status and stable JSON error body."""
    headers: dict[str, str] = {}
    if isinstance(error, TransientError):
        headers["Retry-After"] = str(error.retry_after_s)
    code, message = error.public
    return json_response(error.status, {"error": {"code": code, "message": message}}, **headers)


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
        if webhook:
            with services.ingest.gate.admit():
                response = await handler(request)
        else:
            response = await handler(request)
    except BridgeError as exc:
        response = error_response(exc)
        if exc.status in (408, 413):
            response.force_close()  # the rest of the body is still on the wire
        fields["error"] = exc.code
    except web.HTTPException as exc:
        response = _http_error(exc)
    except Exception:  # the one place that turns a bug into a 500
        log.exception("http.unhandled_error")
        response = json_response(
            500, {"error": {"code": "internal_error", "message": "internal error"}}
        )
    elapsed = time.perf_counter() - started
    services.metrics.requests.labels(route, str(response.status)).inc()
    services.metrics.request_latency.labels(route).observe(elapsed)
    if webhook:
        log.info(
            "webhook.handled",
            status=response.status,
            latency_ms=round(elapsed * 1000, 2),
            **fields,
        )
    return response
