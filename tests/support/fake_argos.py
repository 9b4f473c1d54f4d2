"""
A fake ARGOS REST API (`GET /v3/submission`) for reconciliation tests, on 127.0.0.1.

Written from `/work/shared/docs/argos-webhooks.md` (section 4, and section 2 for encryption),
never from `bridge/`. What a query returns (order, pagination, cursor names, date filter) is
`fake_argos_query`, the items `fake_argos_items`, the scripted faults `fake_argos_faults`.
This module is the HTTP side: `x-api-key` (403 otherwise), `{"errorCode", "errorMessage"}`
error bodies (as the sibling token API), 200 bodies encrypted when `encrypt` is on (error
bodies never), "API down" and a request log::

    async with FakeArgos("key", cursor=NEXT_PAGE_KEY) as argos:
        argos.apply_webhook(load_webhook_fixture("approved_new_id_document"))
        argos.faults.fail_next(ErrorReply(429, retry_after=1), ErrorReply(503))
        ...  # point the client at argos.url, then inspect argos.request_log

Standalone: `python -m tests.support.fake_argos --port 8089 --api-key dev --seed-fixtures`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import itertools
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from aiohttp import web

from tests.support.fake_argos_faults import (
    DropConnection,
    ErrorReply,
    Fault,
    FaultScript,
    SlowReply,
    error_body,
)
from tests.support.fake_argos_items import (
    FIXTURES_DIR,
    JsonValue,
    KycResult,
    Submission,
    load_webhook_fixture,
    submission_from_webhook,
)
from tests.support.fake_argos_query import (
    LAST_EVALUATED_KEY,
    NEXT_PAGE_KEY,
    NEXTPAGE,
    BadQueryError,
    CursorFields,
    encrypt_argos,
    parse_query,
    select_page,
)

__all__ = [
    "LAST_EVALUATED_KEY",
    "NEXTPAGE",
    "NEXT_PAGE_KEY",
    "REDACTED",
    "SUBMISSION_PATH",
    "CursorFields",
    "DropConnection",
    "ErrorReply",
    "FakeArgos",
    "Fault",
    "LoggedRequest",
    "SlowReply",
    "encrypt_argos",
    "main",
]

SUBMISSION_PATH = "/v3/submission"
REDACTED = "<redacted>"


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request the fake received (and answered, unless `status` is None)."""

    number: int  # 1-based, counted over the fake's whole life (restarts included)
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # the x-api-key value is replaced by REDACTED
    status: int | None  # None: the connection was closed without a response
    at: float  # the fake's clock (monotonic seconds) when the request arrived
    fault: Fault | None


class FakeArgos:
    """The fake API: submissions, scripted faults, a request log; an async context manager."""

    def __init__(
        self,
        api_key: str,
        *,
        encrypt: bool = False,
        cursor: CursorFields | None = NEXTPAGE,
        trailing_empty_page: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """
        Configure without starting. `encrypt`, `cursor`, `trailing_empty_page` stay settable.

        `cursor` None sends no cursor at all (a full page is then silently truncated);
        `trailing_empty_page` sends one after every full page, even the last (DynamoDB-style).
        """
        self.api_key, self.encrypt, self.cursor = api_key, encrypt, cursor
        self.trailing_empty_page = trailing_empty_page
        self.host, self.port, self._clock = host, port, clock
        self.faults = FaultScript(clock)
        self._submissions: dict[str, Submission] = {}
        self._log: list[LoggedRequest] = []
        self._numbers = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    @property
    def url(self) -> str:
        """Return the base URL `http://host:port` (the real port once started)."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """
        Listen on `host:port`; after `stop`, on the same port again.

        Raises RuntimeError when already started, OSError when the port is taken.
        """
        if self._runner is not None:
            raise RuntimeError("already started")
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening ("API down"); requests in flight lose their connection."""
        if self._runner is not None:
            self._stopping.set()
            runner, self._runner = self._runner, None
            await runner.cleanup()

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        """Stop the API for the body of the `async with`, then restart it on the same port."""
        await self.stop()
        try:
            yield
        finally:
            await self.start()

    async def __aenter__(self) -> FakeArgos:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # Seeding ------------------------------------------------------------------------------
    def put(self, *submissions: Submission) -> None:
        """Add or replace submissions (keyed by `submission_id`)."""
        self._submissions.update({s.submission_id: s for s in submissions})

    def get(self, submission_id: str) -> Submission:
        """Return a stored submission. Raises KeyError."""
        return self._submissions[submission_id]

    def remove(self, submission_id: str) -> None:
        """Forget a submission (what a `delete` webhook announces). Raises KeyError."""
        del self._submissions[submission_id]

    @property
    def submissions(self) -> tuple[Submission, ...]:
        """Return every stored submission, in insertion order."""
        return tuple(self._submissions.values())

    def apply_webhook(
        self, payload: Mapping[str, JsonValue], *, default_created_at: datetime | None = None
    ) -> Submission:
        """
        Change the stored state as the webhook `payload` says ARGOS changed it; return it.

        Raises ValueError as `submission_from_webhook` does.
        """
        submission_id = payload.get("submission_id")
        base = self._submissions.get(submission_id) if isinstance(submission_id, str) else None
        submission = submission_from_webhook(
            payload, base=base, default_created_at=default_created_at
        )
        self.put(submission)
        return submission

    def set_result(
        self,
        submission_id: str,
        result: KycResult,
        *,
        at: datetime,
        reviewer: str | None = None,
        comment: tuple[str, ...] = (),
        comment_code: tuple[str, ...] = (),
    ) -> Submission:
        """Move a submission to `result` at `at` (`Submission.with_result`). Raises KeyError."""
        moved = self.get(submission_id).with_result(
            result, at=at, reviewer=reviewer, comment=comment, comment_code=comment_code
        )
        self.put(moved)
        return moved

    # Request log --------------------------------------------------------------------------
    @property
    def request_log(self) -> tuple[LoggedRequest, ...]:
        """Return the requests received so far, by arrival (a slow one is logged when done)."""
        return tuple(sorted(self._log, key=lambda entry: entry.number))

    def request_intervals(self) -> list[float]:
        """Return the seconds between consecutive arrivals (e.g. a client's backoff)."""
        times = [entry.at for entry in self.request_log]
        return [later - earlier for earlier, later in itertools.pairwise(times)]

    # Serving ------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        number, arrived = next(self._numbers), self._clock()
        fault = self.faults.take(number, arrived)
        response: web.Response | None = None
        try:
            response = await self._respond(request, fault)
        finally:
            headers = {
                name: REDACTED if name.lower() == "x-api-key" else value
                for name, value in request.headers.items()
            }
            entry = LoggedRequest(
                number=number,
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=headers,
                status=None if response is None else response.status,
                at=arrived,
                fault=fault,
            )
            self._log.append(entry)
        if response is None:
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # aiohttp then sends nothing on this connection
        return response

    async def _respond(self, request: web.Request, fault: Fault | None) -> web.Response | None:
        """Return the response, or None to close the connection without one."""
        if isinstance(fault, SlowReply):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), fault.delay_s)
            if self._stopping.is_set():
                return None
            fault = fault.then
        if isinstance(fault, DropConnection):
            return None
        if isinstance(fault, ErrorReply):
            return web.Response(
                status=fault.status,
                body=fault.payload(),
                headers=fault.headers(),
                content_type="application/json" if fault.body is None else None,
            )
        if request.path != SUBMISSION_PATH:
            return _error(404, "not_found", "No such resource")
        if request.method != "GET":
            return _error(405, "invalid_path", "Invalid request method")
        given = request.headers.get("x-api-key", "")
        if not hmac.compare_digest(given.encode(), self.api_key.encode()):
            return _error(403, "invalid_api_key", "Forbidden")
        try:
            query = parse_query(request.query)
        except BadQueryError as exc:
            return _error(400, "invalid_parameter", str(exc))
        page = select_page(
            self._submissions.values(),
            query,
            cursor=self.cursor,
            trailing_empty_page=self.trailing_empty_page,
        )
        body = orjson.dumps(page)
        if self.encrypt:
            body = orjson.dumps({"data": encrypt_argos(body, self.api_key)})
        return web.Response(body=body, content_type="application/json")


def _error(status: int, code: str, message: str) -> web.Response:
    body = error_body(code, message)
    return web.Response(status=status, body=body, content_type="application/json")


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted, optionally seeded with every webhook fixture that has state."""
    cursors = {
        "nextpage": NEXTPAGE,
        "nextPageKey": NEXT_PAGE_KEY,
        "LastEvaluatedKey": LAST_EVALUATED_KEY,
    }
    parser = argparse.ArgumentParser(prog="python -m tests.support.fake_argos")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--api-key", default="dev-argos-api-key")
    parser.add_argument("--encrypt", action="store_true", help="secure transmission on")
    parser.add_argument("--cursor", choices=[*cursors, "none"], default="nextpage")
    parser.add_argument("--seed-fixtures", action="store_true")
    args = parser.parse_args(argv)
    fake = FakeArgos(
        args.api_key,
        encrypt=args.encrypt,
        cursor=cursors.get(args.cursor),
        host=args.host,
        port=args.port,
    )
    if args.seed_fixtures:
        now = datetime.now(UTC)
        for path in sorted(FIXTURES_DIR.glob("*.json")):
            with contextlib.suppress(ValueError):
                fake.apply_webhook(load_webhook_fixture(path.stem), default_created_at=now)

    async def serve() -> None:
        async with fake:
            print(f"fake ARGOS API: {fake.url}{SUBMISSION_PATH} ({len(fake.submissions)} items)")
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
