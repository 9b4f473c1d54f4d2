"""
An async client for ARGOS `GET {api_url}/v3/submission`, one UTC day per query.

    async with ArgosClient(api_keys, settings=settings, project="korea") as client:
        async for page in client.walk_day(date(2025, 3, 1)):
            ...

The first API key is sent as `x-api-key` (the next one after a 401/403: key rotation);
responses are decrypted with any of them. Requests in flight are bounded by a semaphore
(`settings.concurrency`, shared by every day walked with this client). Each request is
retried by stamina on `ArgosUnavailableError` (429, 408, 5xx, timeouts, connection errors):
exponential backoff with jitter, or exactly the `Retry-After` the API sent (seconds or an
HTTP date). Redirects are not followed (the key would go along).
Log lines carry days, page numbers, counts, statuses and key names, never a value.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from datetime import date
from types import TracebackType

import aiohttp
import stamina
import structlog

from bridge.errors import ConfigError
from bridge.reconcile.errors import ArgosRefusedError, ArgosResponseError, ArgosUnavailableError
from bridge.reconcile.pages import Cursor, Page, parse_page
from bridge.reconcile.settings import ReconcileSettings
from bridge.reconcile.transport import map_transport_errors, status_error

__all__ = ["SUBMISSION_PATH", "ArgosClient"]

SUBMISSION_PATH = "/v3/submission"

log = structlog.get_logger("bridge.reconcile")


class ArgosClient:
    """The API client of one ARGOS project; an async context manager that owns its session."""

    def __init__(
        self,
        api_keys: Sequence[str],
        *,
        settings: ReconcileSettings | None = None,
        project: str | None = None,
    ) -> None:
        """
        Configure without connecting.

        Raises:
            ConfigError: no API key, or invalid `settings` (every problem listed).
        """
        self.settings = settings or ReconcileSettings()
        problems = self.settings.problems()
        if not api_keys or not all(api_keys):
            problems.insert(0, "reconciliation needs the project's ARGOS API key")
        if problems:
            raise ConfigError("; ".join(problems), problems=tuple(problems))
        self.project = project
        self._api_keys = tuple(api_keys)
        self._key_index = 0  # the key sent as x-api-key; moves on when refused
        self._url = self.settings.api_url.rstrip("/") + SUBMISSION_PATH
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._semaphore = asyncio.Semaphore(self.settings.concurrency)

    def __repr__(self) -> str:
        return f"ArgosClient(project={self.project!r}, api_url={self.settings.api_url!r})"

    async def __aenter__(self) -> ArgosClient:
        """Open the HTTP session. Raises RuntimeError when already opened or closed."""
        if self._session is not None or self._closed:
            raise RuntimeError("an ArgosClient can be opened once")
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout, raise_for_status=False)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session; the client cannot be used afterwards."""
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def walk_day(self, day: date) -> AsyncIterator[Page]:
        """
        Yield every page of the submissions created on `day` (UTC), following the cursor.

        Stops after a page without a cursor or without items. A full page without a cursor,
        or a cursor seen before on this day, is yielded as `truncated` and logged.

        Raises:
            ArgosUnavailableError: a request still failed after its retries.
            ArgosRefusedError, ArgosResponseError: as `fetch_page`.
        """
        cursor: Cursor | None = None
        seen: set[Cursor] = set()
        for number in itertools.count(1):
            page = await self.fetch_page(day, cursor)
            if page.cursor is not None and page.cursor in seen:
                log.warning("reconcile.cursor_repeated", project=self.project, day=str(day))
                page = Page(page.items, None, True, page.invalid_items, page.encrypted)
            if page.truncated:
                log.warning(
                    "reconcile.page_truncated",
                    project=self.project,
                    day=str(day),
                    page=number,
                    items=len(page.items),
                    count=self.settings.page_size,
                )
            yield page
            if page.cursor is None or not page.items:
                return
            seen.add(page.cursor)
            cursor = page.cursor

    async def fetch_page(self, day: date, cursor: Cursor | None = None) -> Page:
        """
        Fetch one page of `day`, retrying per `settings.retry`.

        Raises:
            ArgosUnavailableError: still unavailable after the retries.
            ArgosRefusedError: a 4xx (other than 408, 429) or a redirect.
            ArgosResponseError: a body we do not recognise (logged with its key names).
        """
        params = {"start_date": day.isoformat(), "end_date": day.isoformat()}
        params["count"] = str(self.settings.page_size)
        params |= cursor.params() if cursor is not None else {}
        policy = self.settings.retry
        async for attempt in stamina.retry_context(
            on=self._should_retry,
            attempts=policy.attempts,
            timeout=policy.timeout_s,
            wait_initial=policy.wait_initial_s,
            wait_max=policy.wait_max_s,
            wait_jitter=policy.wait_jitter_s,
        ):
            with attempt:
                body = await self._get(params)
        try:
            return parse_page(body, api_keys=self._api_keys, count=self.settings.page_size)
        except ArgosResponseError as exc:
            log.warning(
                "reconcile.unrecognised_response",
                project=self.project,
                day=str(day),
                problem=exc.problem,
                keys=list(exc.keys),
            )
            raise

    def _should_retry(self, exc: Exception) -> bool | float:
        """stamina's backoff hook: retry unavailability, waiting `Retry-After` when given."""
        if not isinstance(exc, ArgosUnavailableError):
            return False
        log.info(
            "reconcile.request_failed",
            project=self.project,
            reason=exc.reason,
            http_status=exc.http_status,
            retry_after=exc.retry_after,
        )
        if exc.retry_after is None:
            return True
        return (
            exc.retry_after if exc.retry_after <= self.settings.retry.max_retry_after_s else False
        )

    async def _get(self, params: dict[str, str]) -> bytes:
        """
        Send one request (one attempt) and return a 2xx body.

        A 401/403 moves on to the project's next API key (rotation) at once; the key that
        worked is kept for the next requests.
        """
        session = self._session
        if session is None:
            raise RuntimeError("use `async with ArgosClient(...)` before fetching")
        while True:
            try:
                return await self._get_with(session, self._api_keys[self._key_index], params)
            except ArgosRefusedError as exc:
                if exc.http_status not in (401, 403) or self._key_index + 1 >= len(self._api_keys):
                    raise
                self._key_index += 1
                log.warning("reconcile.api_key_refused", project=self.project, next_key=True)

    async def _get_with(
        self, session: aiohttp.ClientSession, api_key: str, params: dict[str, str]
    ) -> bytes:
        headers = {"x-api-key": api_key, "accept": "application/json"}
        async with self._semaphore:
            with map_transport_errors():
                async with session.get(
                    self._url, params=params, headers=headers, allow_redirects=False
                ) as response:
                    if 200 <= response.status < 300:
                        return await self._read(response)
                    raise await status_error(response)

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.settings.max_body_bytes
        if (response.content_length or 0) > limit:
            raise ArgosResponseError("too_large")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise ArgosResponseError("too_large")
            chunks.append(chunk)
        return b"".join(chunks)
