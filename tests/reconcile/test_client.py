"""`ArgosClient` against the fake ARGOS API over real HTTP on loopback."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from bridge.errors import ConfigError
from bridge.reconcile.client import ArgosClient
from bridge.reconcile.errors import ArgosRefusedError, ArgosResponseError, ArgosUnavailableError
from bridge.reconcile.pages import Page
from bridge.reconcile.settings import RetryPolicy
from tests.reconcile.conftest import API_KEY, DAY0, seed, settings_for
from tests.support.fake_argos import (
    LAST_EVALUATED_KEY,
    NEXT_PAGE_KEY,
    NEXTPAGE,
    CursorFields,
    DropConnection,
    ErrorReply,
    FakeArgos,
    SlowReply,
)

DAY = DAY0.date()
LEGACY = CursorFields("id", "created_at", container="nextpageKey")  # the legacy ARGOS guide


async def walk(client: ArgosClient, day: date = DAY) -> list[Page]:
    """Return every page of `day`."""
    return [page async for page in client.walk_day(day)]


def ids_of(pages: list[Page]) -> list[str]:
    """Return the submission ids of every item, page by page."""
    return [str(item.get("submission_id")) for page in pages for item in page.items]


@pytest.mark.parametrize(
    ("cursor", "trailing", "count", "requests"),
    [
        pytest.param(NEXTPAGE, False, 12, 3, id="nextpage"),
        pytest.param(NEXT_PAGE_KEY, False, 12, 3, id="nextPageKey"),
        pytest.param(LAST_EVALUATED_KEY, False, 12, 3, id="LastEvaluatedKey"),
        pytest.param(LEGACY, False, 12, 3, id="legacy-nextpageKey"),
        pytest.param(LAST_EVALUATED_KEY, True, 10, 3, id="trailing-empty-page"),
    ],
)
async def test_walk_day_follows_every_cursor_style(
    argos: FakeArgos, cursor: CursorFields, trailing: bool, count: int, requests: int
) -> None:
    """Every item of the day comes once, one day per query, the cursor sent back as nextpage_*."""
    argos.cursor, argos.trailing_empty_page = cursor, trailing
    ids = seed(argos, count, step=timedelta(hours=1))
    seed(argos, 3, start=DAY0 + timedelta(days=1))  # another day: not part of this walk
    async with ArgosClient([API_KEY], settings=settings_for(argos)) as client:
        pages = await walk(client)
    assert sorted(ids) == sorted(ids_of(pages))
    assert [False] * requests == [page.truncated for page in pages]
    log = argos.request_log
    assert requests == len(log)
    assert {("2025-03-01", "2025-03-01", "5")} == {
        (e.query["start_date"], e.query["end_date"], e.query["count"]) for e in log
    }
    assert [False, *[True] * (requests - 1)] == ["nextpage_id" in e.query for e in log]


async def test_encrypted_responses_are_decrypted(argos: FakeArgos) -> None:
    """With secure transmission on, pages are decrypted with the project's key."""
    argos.encrypt = True
    ids = seed(argos, 7)
    async with ArgosClient([API_KEY], settings=settings_for(argos)) as client:
        pages = await walk(client)
    assert (sorted(ids), [True, True]) == (sorted(ids_of(pages)), [p.encrypted for p in pages])


async def test_a_refused_key_moves_on_to_the_next_key(argos: FakeArgos) -> None:
    """During key rotation a 403 on the first key switches to the second, once."""
    argos.encrypt = True
    seed(argos, 7)
    keys = ["stale-argos-api-key-0000", API_KEY]
    async with ArgosClient(keys, settings=settings_for(argos)) as client:
        pages = await walk(client)
    assert (7, [403, 200, 200]) == (len(ids_of(pages)), [e.status for e in argos.request_log])


async def test_a_wrong_key_is_refused_without_retries(argos: FakeArgos) -> None:
    """A 403 is permanent: one request, ARGOS's errorCode kept, no key in the message."""
    async with ArgosClient(["wrong-argos-api-key"], settings=settings_for(argos)) as client:
        with pytest.raises(ArgosRefusedError) as caught:
            await walk(client)
    assert (403, "invalid_api_key", 1) == (
        caught.value.http_status,
        caught.value.error_code,
        len(argos.request_log),
    )
    assert "wrong-argos-api-key" not in f"{caught.value!s} {caught.value!r}"


async def test_backoff_intervals_show_in_the_request_log(argos: FakeArgos) -> None:
    """5xx waits grow exponentially (0.1, 0.2, 0.4 s); a 429 waits its Retry-After (0.5 s)."""
    seed(argos, 2)
    argos.faults.fail_next(
        ErrorReply(503), ErrorReply(502), ErrorReply(500), ErrorReply(429, retry_after=0.5)
    )
    policy = RetryPolicy(attempts=5, wait_initial_s=0.1, wait_max_s=2.0, wait_jitter_s=0.0)
    async with ArgosClient([API_KEY], settings=settings_for(argos, retry=policy)) as client:
        pages = await walk(client)
    assert 2 == len(ids_of(pages))
    assert [503, 502, 500, 429, 200] == [e.status for e in argos.request_log]
    waits = argos.request_intervals()
    minimum = [0.1, 0.2, 0.4, 0.5]
    assert [True] * 4 == [w >= 0.95 * m for w, m in zip(waits, minimum, strict=True)], waits


async def test_retry_after_as_an_http_date_is_honoured(argos: FakeArgos) -> None:
    """`Retry-After: <HTTP date>` two seconds ahead delays the retry by at least a second."""
    seed(argos, 1)
    argos.faults.fail_next(ErrorReply(429, retry_after=datetime.now(UTC) + timedelta(seconds=2)))
    async with ArgosClient([API_KEY], settings=settings_for(argos)) as client:
        await walk(client)
    assert [429, 200] == [e.status for e in argos.request_log]
    assert argos.request_intervals()[0] >= 0.9


async def test_a_retry_after_beyond_the_cap_is_not_waited_for(argos: FakeArgos) -> None:
    """Asked to wait longer than `max_retry_after_s`, the client gives up on this request."""
    argos.faults.fail_next(ErrorReply(429, retry_after=3600))
    policy = RetryPolicy(max_retry_after_s=60.0)
    async with ArgosClient([API_KEY], settings=settings_for(argos, retry=policy)) as client:
        with pytest.raises(ArgosUnavailableError) as caught:
            await walk(client)
    assert ("rate_limited", 3600.0, 1) == (
        caught.value.reason,
        caught.value.retry_after,
        len(argos.request_log),
    )


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(SlowReply(5.0), id="timeout"),
        pytest.param(DropConnection(), id="dropped"),
        pytest.param(ErrorReply(408), id="408"),
    ],
)
async def test_timeouts_and_dropped_connections_are_retried(
    argos: FakeArgos, fault: SlowReply | DropConnection | ErrorReply
) -> None:
    """A reply slower than the timeout, or none at all, is retried and the day completes."""
    ids = seed(argos, 3)
    argos.faults.fail_next(fault)
    settings = settings_for(argos, timeout_s=0.3)
    async with ArgosClient([API_KEY], settings=settings) as client:
        pages = await walk(client)
    assert sorted(ids) == sorted(ids_of(pages))


async def test_retries_end_after_the_configured_attempts(argos: FakeArgos) -> None:
    """A failing API gets `attempts` requests, then the last error is raised."""
    argos.faults.fail_during(60.0, ErrorReply(503))
    async with ArgosClient([API_KEY], settings=settings_for(argos)) as client:
        with pytest.raises(ArgosUnavailableError) as caught:
            await walk(client)
    assert ("server_error", 503, 4) == (
        caught.value.reason,
        caught.value.http_status,
        len(argos.request_log),
    )


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        pytest.param(ErrorReply(200, body=b'{"Records": [], "Count": 0}'), "no_items", id="shape"),
        pytest.param(ErrorReply(200, body=b"<html>hello</html>"), "not_json", id="html"),
    ],
)
async def test_unrecognised_responses_are_logged_with_key_names(
    argos: FakeArgos, fault: ErrorReply, problem: str
) -> None:
    """A 2xx body that is not a page raises and logs its problem and top-level key names."""
    argos.faults.fail_next(fault)
    with capture_logs() as logs:
        async with ArgosClient([API_KEY], settings=settings_for(argos), project="p") as client:
            with pytest.raises(ArgosResponseError):
                await walk(client)
    found = [e for e in logs if e["event"] == "reconcile.unrecognised_response"]
    expected_keys = ["Count", "Records"] if problem == "no_items" else []
    assert [(problem, expected_keys, "2025-03-01")] == [
        (e["problem"], e["keys"], e["day"]) for e in found
    ]


async def test_a_body_over_the_cap_is_refused(argos: FakeArgos) -> None:
    """A response larger than `max_body_bytes` is not read into memory."""
    seed(argos, 5)
    async with ArgosClient([API_KEY], settings=settings_for(argos, max_body_bytes=1024)) as c:
        with pytest.raises(ArgosResponseError) as caught:
            await walk(c)
    assert "too_large" == caught.value.problem


async def test_redirects_are_not_followed(argos: FakeArgos) -> None:
    """A 3xx is refused rather than followed (the API key would travel with it)."""
    argos.faults.fail_next(ErrorReply(307, body=b""))
    async with ArgosClient([API_KEY], settings=settings_for(argos)) as client:
        with pytest.raises(ArgosRefusedError) as caught:
            await walk(client)
    assert (307, 1) == (caught.value.http_status, len(argos.request_log))


async def test_lifecycle_and_configuration_errors(argos: FakeArgos) -> None:
    """No key or bad settings raise ConfigError; use before open or reopening raise."""
    with pytest.raises(ConfigError) as caught:
        ArgosClient([], settings=settings_for(argos, page_size=0))
    assert 2 == len(caught.value.problems)
    client = ArgosClient([API_KEY], settings=settings_for(argos))
    assert API_KEY not in repr(client)
    with pytest.raises(RuntimeError):
        await walk(client)
    async with client:
        pass
    with pytest.raises(RuntimeError):
        await client.__aenter__()
