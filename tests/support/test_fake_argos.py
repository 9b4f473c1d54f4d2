"""The fake ARGOS API answers as section 4 of the ARGOS notes documents, seen by a plain client."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.support.fake_argos import (
    LAST_EVALUATED_KEY,
    NEXT_PAGE_KEY,
    NEXTPAGE,
    REDACTED,
    CursorFields,
    DropConnection,
    ErrorReply,
    FakeArgos,
    SlowReply,
    encrypt_argos,
)
from tests.support.fake_argos_items import Memo, Submission, load_webhook_fixture

API_KEY = "fake-argos-test-key"
T0 = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture(name="argos")
async def _argos() -> AsyncIterator[FakeArgos]:
    """A started fake with no submissions."""
    async with FakeArgos(API_KEY) as argos:
        yield argos


async def fetch(
    argos: FakeArgos, params: dict[str, str] | None = None, key: str | None = API_KEY
) -> tuple[int, dict[str, str], Any]:
    """GET /v3/submission once; return status, headers and the JSON body."""
    headers = {} if key is None else {"x-api-key": key}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{argos.url}/v3/submission", params=params, headers=headers) as resp,
    ):
        return resp.status, dict(resp.headers), json.loads(await resp.read())


def seed(argos: FakeArgos, count: int, step: timedelta = timedelta(hours=7)) -> list[str]:
    """Store `count` submissions created `step` apart from T0; return their ids."""
    ids = [f"sub-{n:03d}" for n in range(count)]
    argos.put(*(Submission(sid, T0 + n * step) for n, sid in enumerate(ids)))
    return ids


def cursor_of(body: dict[str, Any]) -> dict[str, str] | None:
    """Find the next-page cursor under any name the ARGOS notes list (a robust client)."""
    for holder in (body, body.get("LastEvaluatedKey") or {}):
        for id_name, date_name in (
            ("nextpage_id", "nextpage_date"),
            ("nextPageKeyId", "nextPageKeyTime"),
            ("submission_id", "created_at"),
        ):
            if id_name in holder and date_name in holder:
                return {"nextpage_id": holder[id_name], "nextpage_date": holder[date_name]}
    return None


@pytest.mark.parametrize(
    ("cursor", "trailing_empty_page", "pages", "body_keys"),
    [
        pytest.param(NEXTPAGE, False, 5, {"nextpage_id", "nextpage_date"}, id="nextpage"),
        pytest.param(
            NEXT_PAGE_KEY, False, 5, {"nextPageKeyId", "nextPageKeyTime"}, id="nextPageKey"
        ),
        pytest.param(LAST_EVALUATED_KEY, False, 5, {"LastEvaluatedKey"}, id="LastEvaluatedKey"),
        pytest.param(NEXTPAGE, True, 6, {"nextpage_id", "nextpage_date"}, id="trailing-empty"),
    ],
)
async def test_pagination_walks_every_item_once(
    argos: FakeArgos,
    cursor: CursorFields,
    trailing_empty_page: bool,
    pages: int,
    body_keys: set[str],
) -> None:
    """Following the cursor, in each style, yields every submission exactly once, newest first."""
    argos.cursor, argos.trailing_empty_page = cursor, trailing_empty_page
    ids = seed(argos, 25)
    seen: list[str] = []
    params: dict[str, str] = {"count": "5"}
    for _ in range(10):
        status, _, body = await fetch(argos, params)
        assert 200 == status
        if not seen:
            assert {"Items", *body_keys} == set(body)
        seen += [item["submission_id"] for item in body["Items"]]
        next_cursor = cursor_of(body)
        if next_cursor is None:
            break
        params = {"count": "5", **next_cursor}
    assert list(reversed(ids)) == seen
    assert pages == len(argos.request_log)


async def test_no_cursor_truncates_a_full_page(argos: FakeArgos) -> None:
    """With `cursor=None` a full page comes back with no way to the rest."""
    argos.cursor = None
    seed(argos, 8)
    _, _, body = await fetch(argos, {"count": "5"})
    assert (5, ["Items"]) == (len(body["Items"]), list(body))


async def test_default_count_is_fifty(argos: FakeArgos) -> None:
    """Without `count` a page holds 50 items."""
    seed(argos, 60, step=timedelta(minutes=1))
    _, _, body = await fetch(argos)
    assert 50 == len(body["Items"])


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"start_date": "2025-03-02", "end_date": "2025-03-02"}, ["c", "b"], id="one"),
        pytest.param({"start_date": "2025-03-02"}, ["d", "c", "b"], id="from"),
        pytest.param({"end_date": "2025-03-02"}, ["c", "b", "a"], id="until"),
        pytest.param({"start_date": "2025-03-04", "end_date": "2025-03-09"}, [], id="empty"),
    ],
)
async def test_dates_filter_inclusively_on_created_at_utc_day(
    argos: FakeArgos, params: dict[str, str], expected: list[str]
) -> None:
    """`start_date`/`end_date` keep items whose created_at UTC day lies between them."""
    kst = timezone(timedelta(hours=9))
    argos.put(
        Submission("a", datetime(2025, 3, 1, 23, 59, 59, 999000, tzinfo=UTC)),
        Submission("b", datetime(2025, 3, 2, tzinfo=UTC), updated_at=T0 + timedelta(days=9)),
        Submission("c", datetime(2025, 3, 3, 8, 59, 59, 999000, tzinfo=kst)),  # 03-02 in UTC
        Submission("d", datetime(2025, 3, 3, tzinfo=UTC)),
    )
    _, _, body = await fetch(argos, params)
    assert expected == [item["submission_id"] for item in body["Items"]]


@pytest.mark.parametrize("field", ["submission_id", "userid", "email"])
async def test_exact_match_filters(argos: FakeArgos, field: str) -> None:
    """`submission_id`, `userid` and `email` each select the matching submissions only."""
    argos.put(
        Submission("s1", T0, userid="u1", email="one@example.test"),
        Submission("s2", T0, userid="u2", email="two@example.test"),
    )
    value = {"submission_id": "s2", "userid": "u2", "email": "two@example.test"}[field]
    _, _, body = await fetch(argos, {field: value})
    assert ["s2"] == [item["submission_id"] for item in body["Items"]]


def aes_ecb_decrypt(ciphertext_b64: str, api_key: str) -> bytes:
    """Decrypt per the ARGOS notes, written here independently of the fake."""
    key = hashlib.sha256(api_key.encode()).digest()
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    padded = decryptor.update(base64.b64decode(ciphertext_b64)) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def test_encryption_matches_openssl_vector() -> None:
    """`encrypt_argos` reproduces `openssl enc -aes-256-ecb -K sha256(key) -base64`."""
    # KEY=$(printf fake-argos-kat-key | openssl dgst -sha256 -binary | xxd -p -c 64)
    # printf '{"Items":[]}' | openssl enc -aes-256-ecb -K $KEY -nosalt -base64 -A
    assert "MUW9C3BTv/lFIEfsXQegrA==" == encrypt_argos(b'{"Items":[]}', "fake-argos-kat-key")


async def test_encrypted_response_round_trips(argos: FakeArgos) -> None:
    """With secure transmission on, the body is `{"data": b64(AES-ECB(plain body))}`."""
    argos.put(Submission("s1", T0, result="approved", email="one@example.test"))
    _, _, plain = await fetch(argos)
    argos.encrypt = True
    status, _, body = await fetch(argos)
    assert (200, ["data"]) == (status, list(body))
    assert plain == json.loads(aes_ecb_decrypt(body["data"], API_KEY))


@pytest.mark.parametrize("key", [None, "wrong-key", ""])
async def test_bad_or_missing_key_is_403(argos: FakeArgos, key: str | None) -> None:
    """A missing or wrong `x-api-key` gets 403 with an ARGOS error body that echoes nothing."""
    status, _, body = await fetch(argos, key=key)
    assert (403, {"errorCode", "errorMessage"}) == (status, set(body))
    assert "wrong-key" not in json.dumps(body)


@pytest.mark.parametrize(
    "params",
    [
        {"count": "0"},
        {"count": "ten"},
        {"start_date": "2025/03/01"},
        {"end_date": "20250301"},
        {"nextpage_id": "s1"},
        {"nextpage_id": "s1", "nextpage_date": "2025-03-01"},
        {"request_type": "everything"},
    ],
)
async def test_malformed_query_is_400(argos: FakeArgos, params: dict[str, str]) -> None:
    """Malformed documented parameters get 400 `invalid_parameter`."""
    status, _, body = await fetch(argos, params)
    assert (400, "invalid_parameter") == (status, body["errorCode"])


async def test_scripted_429_and_5xx_then_success(argos: FakeArgos) -> None:
    """Queued faults answer the next requests in order, with `Retry-After`, then normal service."""
    when = datetime(2030, 1, 1, tzinfo=UTC)
    argos.faults.fail_next(ErrorReply(429, retry_after=2), ErrorReply(503))
    argos.faults.fail_request(4, ErrorReply(429, retry_after=when))
    answers = [await fetch(argos) for _ in range(5)]
    assert [429, 503, 200, 429, 200] == [status for status, _, _ in answers]
    assert ["2", None, None, "Tue, 01 Jan 2030 00:00:00 GMT", None] == [
        headers.get("Retry-After") for _, headers, _ in answers
    ]
    assert "too_many_requests" == answers[0][2]["errorCode"]


class StepClock:
    """A clock the test moves by hand (no timing in assertions)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_fault_window_and_request_log() -> None:
    """A time-windowed fault hits only requests inside it; the log shows the gaps and no key."""
    clock = StepClock()
    async with FakeArgos(API_KEY, clock=clock) as argos:
        argos.faults.fail_during(10.0, ErrorReply(502), starting_in=1.0)
        statuses = []
        for step in (0.0, 1.5, 3.0, 20.0):
            clock.now += step
            statuses.append((await fetch(argos, {"count": "3"}))[0])
        log = argos.request_log
    assert [200, 502, 502, 200] == statuses
    assert [1.5, 3.0, 20.0] == argos.request_intervals()
    assert [(n, "GET", "/v3/submission", {"count": "3"}) for n in (1, 2, 3, 4)] == [
        (entry.number, entry.method, entry.path, dict(entry.query)) for entry in log
    ]
    assert {REDACTED} == {entry.headers["x-api-key"] for entry in log}
    assert [None, ErrorReply(502), ErrorReply(502), None] == [entry.fault for entry in log]


async def test_slow_reply_times_out_the_client(argos: FakeArgos) -> None:
    """A reply slower than the client's timeout surfaces as a client timeout."""
    argos.faults.fail_next(SlowReply(5.0))
    timeout = aiohttp.ClientTimeout(total=0.2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        with pytest.raises(TimeoutError):
            await session.get(f"{argos.url}/v3/submission", headers={"x-api-key": API_KEY})


async def test_dropped_connection_is_a_disconnect(argos: FakeArgos) -> None:
    """Two drops in a row (aiohttp retries an idempotent GET once) end in a disconnect."""
    argos.faults.fail_next(DropConnection(), DropConnection())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await fetch(argos)
    assert [None, None] == [entry.status for entry in argos.request_log]


async def test_outage_refuses_connections_then_serves_on_the_same_port(argos: FakeArgos) -> None:
    """While the API is down connections are refused; afterwards the same URL answers."""
    url = argos.url
    async with argos.outage():
        with pytest.raises(aiohttp.ClientConnectorError):
            await fetch(argos)
    assert (url, 200) == (argos.url, (await fetch(argos))[0])


@pytest.fixture(name="fixtures_seeded")
def _fixtures_seeded() -> FakeArgos:
    """A (not started) fake fed with webhook fixtures, as the webhook tests deliver them."""
    argos = FakeArgos(API_KEY)
    for name in ("created_with_retry", "retry", "approved_new_id_document", "rejected"):
        argos.apply_webhook(load_webhook_fixture(name), default_created_at=T0)
    return argos


def item_of(argos: FakeArgos, submission_id: str) -> Any:
    """Return the API item of a stored submission, loosely typed for reading in asserts."""
    return argos.get(submission_id).to_item()


def test_webhook_fixtures_become_api_items(fixtures_seeded: FakeArgos) -> None:
    """Webhook fields map to the API item: status to kyc.result, ISO times to the API format."""
    approved = item_of(fixtures_seeded, "5e0a9c31-7f42-4b6d-8e15-c9a2d7f30b68")
    assert {
        "created_at": "2025-04-02-16-41-58-772",
        "updated_at": "2025-04-02-16-45-10-006",
        "kyc_result_at": "2025-04-02-16-45-10-006",
        "reviewer": "system",
        "kyc": {"result": "approved", "comment": [], "commentCode": [], "attempts": []},
    } == {k: approved[k] for k in ("created_at", "updated_at", "kyc_result_at", "reviewer", "kyc")}
    assert ("Daniel Chukwuemeka Okafor", "crm-117305") == (
        approved["data"]["full_name"],
        approved["data"]["cf1"],
    )
    rejected = item_of(fixtures_seeded, "e3d5a7c9-2b4f-4d61-8a03-5f7e9c1b3d25")
    assert {"result": "rejected", "comment": ["The ID document has expired."]} == {
        k: rejected["kyc"][k] for k in ("result", "comment")
    }


def test_incomplete_submission_turns_rejected_hours_later(fixtures_seeded: FakeArgos) -> None:
    """created + retry give one incomplete item; `set_result` later rejects it with its time."""
    sid = "7a9c1e3b-5d6f-4a80-92b4-d6f8a0c2e4b6"
    before = item_of(fixtures_seeded, sid)
    assert ("incomplete", ["image_too_blurry", "glare_detected"], "2025-03-01-00-00-00-000") == (
        before["kyc"]["result"],
        before["kyc"]["attempts"],
        before["created_at"],
    )
    assert "updated_at" not in before
    fixtures_seeded.set_result(sid, "rejected", at=T0 + timedelta(hours=5), comment_code=("R1",))
    after = item_of(fixtures_seeded, sid)
    assert ("rejected", ["R1"], "2025-03-01-05-00-00-000", "2025-03-01-05-00-00-000") == (
        after["kyc"]["result"],
        after["kyc"]["commentCode"],
        after["updated_at"],
        after["kyc_result_at"],
    )


def test_list_variant_item_shape() -> None:
    """The list/per-user variant: `data.name`, a memo, project options, no optional times."""
    item = Submission(
        "s1",
        T0,
        full_name="A Person",
        name_field="name",
        memo=Memo("dashboard memo", T0 + timedelta(days=1)),
        project_options={"option_aml": True},
    ).to_item()
    assert {"name": "A Person"} == item["data"]
    assert {"text": "dashboard memo", "updated_at": "2025-03-02-00-00-00-000"} == item["memo"]
    assert {"option_aml": True} == item["project_options"]
    assert set() == {"updated_at", "kyc_result_at", "pending_at"} & set(item)


async def test_request_type_kyc_returns_kyc_fields_only(argos: FakeArgos) -> None:
    """`request_type=kyc` keeps `submission_id` and the KYC fields, not personal data."""
    argos.put(Submission("s1", T0, result="approved", email="one@example.test", full_name="X"))
    _, _, body = await fetch(argos, {"request_type": "kyc"})
    assert {"submission_id", "created_at", "kyc"} == set(body["Items"][0])


def test_naive_datetime_is_refused() -> None:
    """The item builder refuses a naive datetime: every API time is rendered in UTC."""
    with pytest.raises(ValueError, match="naive"):
        Submission("s1", datetime(2025, 3, 1)).to_item()
