"""
One reconciliation run of one project: walk every day and page, hand each mapped item on.

    stats = await reconcile_project(
        client, "korea", since=date(2025, 3, 1), until=date(2025, 3, 3),
        on_item=publish_if_newer, on_progress=bar.update,
    )

Days are walked concurrently by `client.settings.concurrency` workers (the client's semaphore
bounds requests as well). `on_item` is awaited once per mapped item, never concurrently with
itself; it decides whether the API state is newer than the current state and publishes.
`on_progress(done_days, total_days)` is called with (0, total) first and after every day.

A day that fails (API unavailable after retries, refused, unrecognised response) is logged,
counted and abandoned; the other days go on and nothing is raised. What `on_item` or
`on_progress` raise is not the API's fault: it propagates (the remaining days are cancelled).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from datetime import date, timedelta
from typing import Literal

import structlog

from bridge.reconcile.client import ArgosClient
from bridge.reconcile.errors import ArgosApiError, ArgosResponseError, UnmappableItemError
from bridge.reconcile.mapping import ReconciledItem, map_item

__all__ = ["ItemCallback", "ProgressCallback", "RunOutcome", "RunStats", "reconcile_project"]

ItemCallback = Callable[[ReconciledItem], Awaitable[None]]
ProgressCallback = Callable[[int, int], None]
RunOutcome = Literal["ok", "partial", "failed"]

log = structlog.get_logger("bridge.reconcile")


@dataclass(frozen=True, slots=True)
class RunStats:
    """What a run saw; every field is a count, ready for a metric or a summary line."""

    days: int = 0  # days in the window
    failed_days: int = 0  # days abandoned (errors or an unrecognised response)
    pages: int = 0  # pages received
    items: int = 0  # items received
    events: int = 0  # items handed to `on_item`
    skipped: int = 0  # items whose state makes no event (`incomplete`)
    truncated_pages: int = 0  # full pages without a cursor: items may be missing
    unrecognised: int = 0  # responses and items we could not read
    errors: int = 0  # requests that failed after their retries (one per failed day)

    @property
    def outcome(self) -> RunOutcome:
        """Return `ok` (all read), `failed` (no day read) or `partial` (anything between)."""
        if self.failed_days == 0 and self.truncated_pages == 0 and self.unrecognised == 0:
            return "ok"
        return "failed" if self.failed_days >= self.days else "partial"

    def as_dict(self) -> dict[str, int]:
        """Return the counts by field name (for a log line or a summary)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class _Tally:
    days: int = 0
    failed_days: int = 0
    pages: int = 0
    items: int = 0
    events: int = 0
    skipped: int = 0
    truncated_pages: int = 0
    unrecognised: int = 0
    errors: int = 0


async def _walk(
    client: ArgosClient, project: str, day: date, tally: _Tally, deliver: ItemCallback
) -> None:
    try:
        async for page in client.walk_day(day):
            tally.pages += 1
            tally.items += len(page.items) + page.invalid_items
            tally.unrecognised += page.invalid_items
            tally.truncated_pages += page.truncated
            for item in page.items:
                try:
                    mapped = map_item(item, project=project)
                except UnmappableItemError as exc:
                    tally.unrecognised += 1
                    log.warning("reconcile.unrecognised_item", project=project, reason=exc.reason)
                    continue
                if mapped is None:
                    tally.skipped += 1
                    continue
                await deliver(mapped)
                tally.events += 1
    except ArgosApiError as exc:
        tally.failed_days += 1
        if isinstance(exc, ArgosResponseError):
            tally.unrecognised += 1
        else:
            tally.errors += 1
        log.error("reconcile.day_failed", project=project, day=str(day), error=exc.code)


async def reconcile_project(
    client: ArgosClient,
    project_name: str,
    *,
    since: date,
    until: date,
    on_item: ItemCallback,
    on_progress: ProgressCallback | None = None,
) -> RunStats:
    """
    Walk every day from `since` to `until` (inclusive, UTC) and every page; return the counts.

    Raises:
        ValueError: `until` is before `since`.
        Whatever `on_item` or `on_progress` raise.
    """
    if until < since:
        raise ValueError("`until` is before `since`")
    days = deque(since + timedelta(days=n) for n in range((until - since).days + 1))
    tally = _Tally(days=len(days))
    lock = asyncio.Lock()
    progress = on_progress or (lambda _done, _total: None)

    async def deliver(item: ReconciledItem) -> None:
        async with lock:
            await on_item(item)

    done = 0

    async def worker() -> None:
        nonlocal done
        while days:
            await _walk(client, project_name, days.popleft(), tally, deliver)
            done += 1
            progress(done, tally.days)

    progress(0, tally.days)
    log.info("reconcile.started", project=project_name, since=str(since), until=str(until))
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(client.settings.concurrency, tally.days)):
                group.create_task(worker())
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    stats = RunStats(**asdict(tally))
    log.info("reconcile.finished", project=project_name, outcome=stats.outcome, **stats.as_dict())
    return stats
