"""`reconcile_project` walks days and pages against the fake API and counts what it saw."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta

import orjson
import pytest
from structlog.testing import capture_logs

from bridge.reconcile.client import ArgosClient
from bridge.reconcile.mapping import ReconciledItem
from bridge.reconcile.run import RunStats, reconcile_project
from bridge.reconcile.settings import ReconcileSettings
from bridge.types import JSONObject
from tests.reconcile.conftest import API_KEY, DAY0, seed, settings_for
from tests.support.fake_argos import (
    LAST_EVALUATED_KEY,
    NEXT_PAGE_KEY,
    NEXTPAGE,
    CursorFields,
    ErrorReply,
    FakeArgos,
)
from tests.support.fake_argos_items import Submission, load_webhook_fixture

SINCE, UNTIL = date(2025, 3, 1), date(2025, 3, 3)


class Collector:
    """An `on_item` / `on_progress` pair that records calls and checks they never overlap."""

    def __init__(self) -> None:
        self.items: list[ReconciledItem] = []
        self.progress: list[tuple[int, int]] = []
        self.in_flight = self.most_in_flight = 0

    async def on_item(self, item: ReconciledItem) -> None:
        """Record `item`, yielding to the loop while "publishing"."""
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0)
        self.items.append(item)
        self.in_flight -= 1

    def on_progress(self, done: int, total: int) -> None:
        """Record a progress report."""
        self.progress.append((done, total))


async def run(
    argos: FakeArgos,
    collector: Collector,
    *,
    keys: tuple[str, ...] = (API_KEY,),
    settings: ReconcileSettings | None = None,
    since: date = SINCE,
    until: date = UNTIL,
) -> RunStats:
    """Reconcile project `korea` from `since` to `until`, bounded by a 20 s guard."""
    async with (
        asyncio.timeout(20),
        ArgosClient(keys, settings=settings or settings_for(argos), project="korea") as client,
    ):
        return await reconcile_project(
            client,
            "korea",
            since=since,
            until=until,
            on_item=collector.on_item,
            on_progress=collector.on_progress,
        )


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param(NEXTPAGE, id="nextpage"),
        pytest.param(NEXT_PAGE_KEY, id="nextPageKey"),
        pytest.param(LAST_EVALUATED_KEY, id="LastEvaluatedKey"),
        pytest.param(CursorFields("id", "created_at", "nextpageKey"), id="legacy-nextpageKey"),
    ],
)
async def test_every_item_of_every_day_is_handed_on_once(
    argos: FakeArgos, cursor: CursorFields
) -> None:
    """Three days, several pages each: each submission reaches `on_item` exactly once."""
    argos.cursor = cursor
    ids = [*seed(argos, 12), *seed(argos, 7, start=DAY0 + timedelta(days=1))]
    ids += seed(argos, 4, start=DAY0 + timedelta(days=2), result="rejected")
    seed(argos, 3, start=DAY0 + timedelta(days=3))  # after `until`
    collector = Collector()
    stats = await run(argos, collector, settings=settings_for(argos, concurrency=3))
    assert Counter(ids) == Counter(item.submission_id for item in collector.items)
    assert RunStats(days=3, pages=3 + 2 + 1, items=23, events=23) == stats
    assert ("ok", 1) == (stats.outcome, collector.most_in_flight)
    assert [(n, 3) for n in range(4)] == collector.progress


async def test_incomplete_and_unreadable_items_are_counted(argos: FakeArgos) -> None:
    """`incomplete` is skipped; an item with no readable result is counted as unrecognised."""
    seed(argos, 2)
    argos.put(
        Submission("s-incomplete", DAY0),
        Submission("s-broken", DAY0, extra={"kyc": "approved"}),
    )
    collector = Collector()
    with capture_logs() as logs:
        stats = await run(argos, collector, until=SINCE)
    assert (4, 2, 1, 1, "partial") == (
        stats.items,
        stats.events,
        stats.skipped,
        stats.unrecognised,
        stats.outcome,
    )
    assert ["unknown_result"] == [
        e["reason"] for e in logs if e["event"] == "reconcile.unrecognised_item"
    ]


async def test_api_down_ends_the_run_with_errors_counted(argos: FakeArgos) -> None:
    """With the API down every day fails after its retries; nothing raises, nothing hangs."""
    seed(argos, 3)
    collector = Collector()
    with capture_logs() as logs:
        async with argos.outage():
            stats = await run(argos, collector)
    assert RunStats(days=3, failed_days=3, errors=3) == stats
    assert ("failed", [(n, 3) for n in range(4)]) == (stats.outcome, collector.progress)
    failed = [e for e in logs if e["event"] == "reconcile.day_failed"]
    days = {"2025-03-01", "2025-03-02", "2025-03-03"}
    assert {(day, "argos_api_unavailable") for day in days} == {
        (e["day"], e["error"]) for e in failed
    }


async def test_one_failing_day_does_not_stop_the_others(argos: FakeArgos) -> None:
    """A day whose requests all fail is counted; the other days are still reconciled."""
    ids = seed(argos, 3, start=DAY0 + timedelta(days=1))
    argos.faults.fail_next(*[ErrorReply(503)] * 4)  # the first day's four attempts
    collector = Collector()
    stats = await run(argos, collector, settings=settings_for(argos, concurrency=1))
    assert (1, 1, "partial") == (stats.errors, stats.failed_days, stats.outcome)
    assert sorted(ids) == sorted(item.submission_id for item in collector.items)


async def test_a_full_page_without_cursor_is_counted_as_truncated(argos: FakeArgos) -> None:
    """With no cursor in the responses, a full page is delivered, logged and counted."""
    argos.cursor = None
    seed(argos, 8, step=timedelta(minutes=30))
    collector = Collector()
    with capture_logs() as logs:
        stats = await run(argos, collector, until=SINCE)
    assert (1, 5, 1, "partial") == (stats.pages, stats.events, stats.truncated_pages, stats.outcome)
    truncated = [e for e in logs if e["event"] == "reconcile.page_truncated"]
    assert [("2025-03-01", 1, 5, 5)] == [
        (e["day"], e["page"], e["items"], e["count"]) for e in truncated
    ]


async def test_an_unrecognised_response_is_counted(argos: FakeArgos) -> None:
    """A 2xx body that is not a page abandons that day and counts as unrecognised."""
    argos.faults.fail_next(ErrorReply(200, body=b'{"Records": []}'))
    stats = await run(argos, Collector(), until=SINCE)
    assert RunStats(days=1, failed_days=1, unrecognised=1) == stats


async def test_the_lookback_must_cover_the_creation_day(argos: FakeArgos) -> None:
    """A result given today for a submission created two days ago needs a 2-day lookback."""
    today = date(2025, 3, 3)
    argos.put(Submission("s-old", DAY0).with_result("approved", at=DAY0 + timedelta(days=2)))
    found = []
    for lookback in (1, 2):
        since, until = ReconcileSettings(lookback_days=lookback).window(today)
        collector = Collector()
        await run(argos, collector, since=since, until=until)
        found.append([item.submission_id for item in collector.items])
    assert [[], ["s-old"]] == found


async def test_callback_errors_propagate(argos: FakeArgos) -> None:
    """What `on_item` raises is the caller's problem: it reaches the caller unchanged."""
    seed(argos, 2)

    async def explode(item: ReconciledItem) -> None:
        raise RuntimeError("publishing failed")

    async with ArgosClient([API_KEY], settings=settings_for(argos)) as client:
        with pytest.raises(RuntimeError, match="publishing failed"):
            await reconcile_project(client, "korea", since=SINCE, until=UNTIL, on_item=explode)
        with pytest.raises(ValueError, match="before"):
            await reconcile_project(client, "korea", since=UNTIL, until=SINCE, on_item=explode)


PERSONAL = ("full_name", "email", "phoneNumber", "date_of_birth", "userid", "ipAddress")
STALE_KEY = "stale-canary-api-key-9d2e"


def personal_values(payload: JSONObject) -> set[str]:
    """Return the personal values of a webhook payload (names, email, phone, cf, ...)."""
    values = {v for k in PERSONAL if isinstance(v := payload.get(k), str) and len(v) > 3}
    custom = payload.get("cf")
    if isinstance(custom, dict):
        values |= {v for v in custom.values() if isinstance(v, str) and v}
    return values


async def test_no_api_key_or_personal_data_in_logs(
    argos: FakeArgos, caplog: pytest.LogCaptureFixture
) -> None:
    """Through retries, key rotation, unrecognised bodies and failed days, logs stay clean."""
    canaries = {API_KEY, STALE_KEY}
    argos.encrypt = True
    for n, name in enumerate(("approved_new_id_document", "approved_old_id_document", "submit")):
        payload = load_webhook_fixture(name)
        canaries |= personal_values(payload)
        stored = argos.apply_webhook(payload)
        argos.put(replace(stored, created_at=DAY0 + timedelta(hours=n)))  # into the window
    unknown = orjson.dumps({sorted(canaries)[0]: 1, "Records": [sorted(canaries)[1]]})
    # One day at a time: 429, 503, 403 (stale key), 200 for day 1; day 2 empty; day 3 unknown.
    argos.faults.fail_next(ErrorReply(429, retry_after=0), ErrorReply(503))
    argos.faults.fail_request(6, ErrorReply(200, body=unknown))
    caplog.set_level(logging.DEBUG)
    settings = settings_for(argos, concurrency=1)
    with capture_logs() as logs:
        stats = await run(argos, Collector(), keys=(STALE_KEY, API_KEY), settings=settings)
        async with argos.outage():
            down = await run(argos, Collector(), until=SINCE)
    assert (3, 1, 1) == (stats.events, stats.unrecognised, down.errors)
    assert [429, 503, 403, 200, 200, 200] == [e.status for e in argos.request_log][:6]
    expected = {
        "reconcile.request_failed",
        "reconcile.api_key_refused",
        "reconcile.unrecognised_response",
        "reconcile.day_failed",
        "reconcile.finished",
    }
    assert expected <= {e["event"] for e in logs}
    text = repr(logs) + caplog.text + repr(stats) + repr(down)
    assert [] == [c for c in sorted(canaries) if c in text]
