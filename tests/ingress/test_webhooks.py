"""The HTTP edge against the in-memory publisher: status codes, bodies, DLQ, logs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from bridge import crypto
from bridge.config import load_settings
from bridge.decode import MAX_JSON_DEPTH
from bridge.ingress.app import create_app
from bridge.publish.memory import MemoryPublisher

TOKEN = "tok-" + "x" * 20
API_KEY = "argos-api-key-for-tests"
Client = TestClient[web.Request, web.Application]
PAYLOAD = {"webhook_trigger": "approved", "submission_id": "sub_123", "email": "a@example.com"}


@pytest.fixture(name="publisher")
def _publisher() -> MemoryPublisher:
    return MemoryPublisher(partitions=3)


@pytest.fixture(name="client")
async def _client(tmp_path: Path, publisher: MemoryPublisher) -> AsyncIterator[Client]:
    settings = load_settings(
        {
            "BRIDGE_AUTH_TOKENS": TOKEN,
            "BRIDGE_ARGOS_API_KEYS": API_KEY,
            "BRIDGE_SPOOL_DIR": str(tmp_path / "spool"),
            "BRIDGE_HTTP_MAX_BODY_BYTES": "4096",
            "BRIDGE_PUBLISH_DEADLINE_MS": "300",
        }
    )
    app = create_app(settings, publisher=publisher)
    async with TestClient(TestServer(app)) as client:
        yield client


async def _post(
    client: Client, body: bytes, *, token: str | None = TOKEN, **headers: str
) -> ClientResponse:
    path = f"/webhooks/argos/{token}" if token else "/webhooks/argos"
    return await client.post(
        path, data=body, headers={"Content-Type": "application/json", **headers}
    )


async def test_plain_webhook_is_published_keyed_by_submission(
    client: Client, publisher: MemoryPublisher
) -> None:
    """200 only after the publisher stored it; the record is keyed by submission_id."""
    response = await _post(client, orjson.dumps(PAYLOAD))
    body = await response.json()
    assert (200, "kafka") == (response.status, body["stored"])
    (record,) = publisher.records("kyc.events.v1")
    assert b"sub_123" == record.key
    assert body["event_id"] == dict(record.headers)["ce_id"].decode()


async def test_bearer_header_works_like_the_path_token(
    client: Client, publisher: MemoryPublisher
) -> None:
    """`Authorization: Bearer` on /webhooks/argos authenticates like the path token."""
    response = await _post(
        client, orjson.dumps(PAYLOAD), token=None, Authorization=f"Bearer {TOKEN}"
    )
    assert 200 == response.status
    assert 1 == len(publisher.records("kyc.events.v1"))


@pytest.mark.parametrize(
    ("token", "headers"),
    [("wrong-token-000000000000", {}), (None, {}), (None, {"Authorization": "Basic abc"})],
)
async def test_bad_token_gets_401_and_writes_nothing(
    client: Client, publisher: MemoryPublisher, token: str | None, headers: dict[str, str]
) -> None:
    """Unauthenticated requests get a JSON 401 and nothing reaches Kafka (not even the DLQ)."""
    response = await _post(client, orjson.dumps(PAYLOAD), token=token, **headers)
    assert 401 == response.status
    assert "unauthorized" == (await response.json())["error"]["code"]
    assert [] == publisher.records("kyc.events.v1") + publisher.records("kyc.events.dlq.v1")


async def test_encrypted_webhook_is_decrypted(client: Client, publisher: MemoryPublisher) -> None:
    """An ARGOS-encrypted body is decrypted and published like a plain one."""
    body = orjson.dumps({"data": crypto.encrypt(orjson.dumps(PAYLOAD), API_KEY)})
    response = await _post(client, body, **{"Content-Type": "text/plain"})
    assert 200 == response.status
    value = orjson.loads(publisher.records("kyc.events.v1")[0].value or b"")
    assert value["encrypted"] is True


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (orjson.dumps({"data": crypto.encrypt(b"{}", "other-key")}), "decryption_failed"),
    ],
)
async def test_bad_bodies_get_400_and_go_to_the_dlq_as_received(
    client: Client, publisher: MemoryPublisher, body: bytes, code: str
) -> None:
    """Undecryptable or non-JSON bodies: 400 with a stable code; the DLQ keeps the exact bytes."""
    response = await _post(client, body)
    assert 400 == response.status
    assert code == (await response.json())["error"]["code"]
    await _wait_for(lambda: publisher.records("kyc.events.dlq.v1"))
    (dead,) = publisher.records("kyc.events.dlq.v1")
    value = orjson.loads(dead.value or b"")
    assert code == value["data"]["reason"]
    assert TOKEN not in (dead.value or b"").decode()
    assert [] == publisher.records("kyc.events.v1")


def _deep(depth: int) -> dict[str, object]:
    """PAYLOAD plus an array nested so that the whole object is `depth` levels deep."""
    return {**PAYLOAD, "deep": orjson.loads(b"[" * (depth - 1) + b"]" * (depth - 1))}


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_deeply_nested_json_gets_400_and_a_dead_letter(
    client: Client, publisher: MemoryPublisher, encrypted: bool
) -> None:
    """JSON nested ~1000 levels deep is a 400 `payload_too_deep`, dead-lettered as received."""
    plain = b'{"webhook_trigger":"approved","deep":' + b"[" * 999 + b"]" * 999 + b"}"
    body = orjson.dumps({"data": crypto.encrypt(plain, API_KEY)}) if encrypted else plain
    response = await _post(client, body)
    assert (400, "payload_too_deep") == (response.status, (await response.json())["error"]["code"])
    await _wait_for(lambda: publisher.records("kyc.events.dlq.v1"))
    (dead,) = publisher.records("kyc.events.dlq.v1")
    assert "payload_too_deep" == orjson.loads(dead.value or b"")["data"]["reason"]
    assert [] == publisher.records("kyc.events.v1")


async def test_nesting_at_the_limit_goes_all_the_way_to_kafka(
    client: Client, publisher: MemoryPublisher
) -> None:
    """A payload exactly MAX_JSON_DEPTH deep is normalized, serialized and published."""
    response = await _post(client, orjson.dumps(_deep(MAX_JSON_DEPTH)))
    assert 200 == response.status
    (record,) = publisher.records("kyc.events.v1")
    assert _deep(MAX_JSON_DEPTH) == orjson.loads(record.value or b"")["raw"]


async def test_oversized_body_gets_413(client: Client) -> None:
    """Bodies above BRIDGE_HTTP_MAX_BODY_BYTES are refused with a JSON 413."""
    response = await _post(client, b"{" + b" " * 5000 + b"}")
    assert 413 == response.status
    assert "payload_too_large" == (await response.json())["error"]["code"]


async def test_kafka_down_answers_202_from_the_spool_then_delivers(
    client: Client, publisher: MemoryPublisher
) -> None:
    """With Kafka down the webhook is fsynced and answered 202 "spool"; it lands later."""
    publisher.down = True
    response = await _post(client, orjson.dumps(PAYLOAD))
    assert (202, "spool") == (response.status, (await response.json())["stored"])
    publisher.down = False
    await _wait_for(lambda: publisher.records("kyc.events.v1"))
    assert 1 == len(publisher.records("kyc.events.v1"))


async def test_repeated_delivery_is_not_published_twice(
    client: Client, publisher: MemoryPublisher
) -> None:
    """The same webhook delivered twice has one event id and one record."""
    first = await (await _post(client, orjson.dumps(PAYLOAD))).json()
    second = await (await _post(client, orjson.dumps(PAYLOAD))).json()
    assert first["event_id"] == second["event_id"]
    assert second["duplicate"] is True
    assert 1 == len(publisher.records("kyc.events.v1"))


async def test_health_and_metrics(client: Client) -> None:
    """/livez, /readyz and /metrics answer; unknown routes get a JSON 404."""
    assert 200 == (await client.get("/livez")).status
    assert 200 == (await client.get("/readyz")).status
    metrics = await (await client.get("/metrics")).text()
    assert "kyc_bridge_spool_events" in metrics
    missing = await client.get("/nope")
    assert (404, "not_found") == (missing.status, (await missing.json())["error"]["code"])


async def _wait_for(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)
