"""
The listening socket, bounded against unauthenticated resource use.

- At most `BRIDGE_HTTP_MAX_CONNECTIONS` open connections: one more is answered
  503 `too_many_connections` (with `Retry-After`) and closed at once, before
  anything is read from it.
- At most `BRIDGE_HTTP_MAX_HEADERS` header lines (aiohttp's parser) and
  `BRIDGE_HTTP_MAX_HEADER_BYTES` bytes per request head: a client that sends
  more is answered 431 `headers_too_large` and disconnected, so a connection
  that never finishes its head holds at most that much.
- A head must be complete within `BRIDGE_HTTP_READ_TIMEOUT_S` (aiohttp's
  keep-alive timer); the body has its own timeout in the handler.
- No `Server` header, and no access log (request paths carry tokens).

aiohttp 3.13/3.14 caps the length of one line (`max_line_size`,
`max_field_size`) and the number of header lines (`max_headers`), but neither
the total size of a head nor the number of connections; so `EdgeSite` makes
its own request handlers (`web.RequestHandler` subclassed) for its socket.
Memory held by connections is then at most about
`max_connections x max_header_bytes` plus the requests admitted in flight
(deploy/README.md has the sizing).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import cast

import structlog
from aiohttp import hdrs, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import LineTooLong
from aiohttp.streams import StreamReader

from bridge.config import HttpSettings
from bridge.errors import (
    BridgeError,
    HeadersTooLargeError,
    PermanentError,
    TooManyConnectionsError,
)
from bridge.ingress.middleware import error_response, raw_error_response

__all__ = ["EdgeSite"]

log = structlog.get_logger("bridge.http")

#: the longest request line or single header line aiohttp accepts (its default)
_MAX_LINE_BYTES = 8190


class _NoAccessLog(AbstractAccessLogger):
    """Access logging off: request paths carry tokens."""

    @property
    def enabled(self) -> bool:
        return False

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        return None


class _BareResponse(web.Response):
    """
    A response without the `Server` header aiohttp adds while preparing it.

    For `handle_error` answers only: they belong to no app, so the app's
    `on_response_prepare` hook (`drop_server_header`) never sees them.
    """

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        self.headers.popall(hdrs.SERVER, None)


@dataclass(slots=True)
class _Connections:
    """Open connections of one site, against their cap."""

    limit: int
    open: int = 0


# The answers a handler writes itself: no request object exists for them.
_TOO_MANY_CONNECTIONS = raw_error_response(TooManyConnectionsError("too many open connections"))
_HEAD_TOO_LARGE = raw_error_response(
    HeadersTooLargeError("request head larger than the configured cap")
)


class _EdgeHandler(web.RequestHandler):
    """aiohttp's request handler, plus the connection cap and the head byte cap."""

    def __init__(
        self,
        manager: web.Server,
        *,
        loop: asyncio.AbstractEventLoop,
        http: HttpSettings,
        connections: _Connections,
    ) -> None:
        super().__init__(
            manager,
            loop=loop,
            # No complete head within this time after connecting (or after the previous
            # response): aiohttp closes the connection. This is the head read timeout.
            keepalive_timeout=http.read_timeout_s,
            access_log_class=_NoAccessLog,
            lingering_time=1.0,  # after an early 4xx, don't keep draining a slow client's body
            max_line_size=_MAX_LINE_BYTES,
            max_field_size=_MAX_LINE_BYTES,
            max_headers=http.max_headers,
        )
        self._connections = connections
        self._max_head_bytes = http.max_header_bytes
        self._refused = False
        self._head_bytes = 0  # bytes received since the current head began
        self._body: StreamReader | None = None  # the body of the last request parsed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Count the connection, or answer 503 and close it when the cap is reached."""
        if self._connections.open >= self._connections.limit:
            self._refused = True
            # A stream transport (asyncio's or uvloop's, which is not registered as a
            # WriteTransport subclass); aiohttp casts it the same way.
            stream = cast(asyncio.Transport, transport)
            stream.write(_TOO_MANY_CONNECTIONS)
            stream.close()
            return
        self._connections.open += 1
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        """Release the connection's slot (a refused one never had one)."""
        if self._refused:
            return
        self._connections.open -= 1
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse as aiohttp does, counting the bytes of an unfinished request head."""
        if self._refused:
            return
        in_head = self._body is None or self._body.is_eof()
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:  # a head was completed: the rest is its body
            self._head_bytes = 0
            self._body = self._messages[-1][1] if self._messages else None
        elif in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self._max_head_bytes:
                self._refuse_head()

    def _refuse_head(self) -> None:
        """Answer 431 (unless a response is still due on this connection) and disconnect."""
        log.warning("http.head_too_large", limit=self._max_head_bytes)
        idle = not self._request_in_progress and not self._messages
        if idle and self.transport is not None:
            self.transport.write(_HEAD_TOO_LARGE)
        self.force_close()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """Answer a request aiohttp could not parse (or a crash outside the app) in JSON."""
        del message  # may quote the offending header line: never logged, never echoed
        error: BridgeError
        if isinstance(exc, LineTooLong) or "Too many headers" in str(exc):
            error = HeadersTooLargeError("a header line or the number of headers is too large")
        elif 400 <= status < 500:
            error = PermanentError("malformed HTTP request")
        else:
            error = BridgeError("internal error")
        if error.status >= 500:
            log.error("http.unhandled_error", exc_info=exc)
        else:
            log.warning("http.bad_request", error=error.code, status=error.status)
        answer = error_response(error)
        response = _BareResponse(
            status=answer.status, body=answer.body, content_type="application/json"
        )
        response.force_close()
        return response


class EdgeSite(web.BaseSite):
    """A TCP site (plain or TLS) whose connections are served by `_EdgeHandler`."""

    __slots__ = ("_bound_port", "_connections", "_host", "_http", "_port")

    def __init__(
        self,
        runner: web.BaseRunner,
        http: HttpSettings,
        *,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._http = http
        self._host = http.host
        self._port = port
        self._bound_port = port
        self._connections = _Connections(http.max_connections)

    @property
    def name(self) -> str:
        """Return the site's URL."""
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._bound_port}"

    @property
    def open_connections(self) -> int:
        """Return how many connections are open (refused ones are never counted)."""
        return self._connections.open

    async def start(self) -> None:
        """Listen; every accepted connection gets its own `_EdgeHandler`."""
        await super().start()
        server = self._runner.server
        if server is None:
            raise RuntimeError("the runner is not set up")
        loop = asyncio.get_running_loop()

        def handler() -> _EdgeHandler:
            return _EdgeHandler(server, loop=loop, http=self._http, connections=self._connections)

        listener = await loop.create_server(
            handler, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog
        )
        self._server = listener
        if listener.sockets:
            self._bound_port = int(listener.sockets[0].getsockname()[1])
