"""The delivery contract in one place: Ingest over a real spool and the memory publisher."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from bridge.config import load_settings
from bridge.deadletter import Origin
from bridge.delivery.ingest import Ingest
from bridge.errors import EventTooLargeError
from bridge.events import Event, EventFactory
from bridge.metrics import Metrics
from bridge.publish.memory import MemoryPublisher
from bridge.schemas import load_registry
from bridge.types import JSONObject

FACTORY = EventFactory(load_registry())


def _ingest(tmp_path: Path, publisher: MemoryPublisher) -> Ingest:
    settings = load_settings(
        {"BRIDGE_AUTH_TOKENS": "ingest-token-000000001", "BRIDGE_SPOOL_DIR": str(tmp_path)}
    )
    return Ingest(settings, publisher, Metrics())


def _event(size: int) -> Event:
    payload: JSONObject = {
        "webhook_trigger": "approved",
        "submission_id": "sub-big",
        "x_pad": "p" * size,
    }
    return FACTORY.build(payload, project="p", received_at=datetime.now(UTC), encrypted=False)


def _origin(body: bytes) -> Origin:
    return Origin(body, "p", datetime(2026, 1, 2, tzinfo=UTC), {"method": "POST"})


async def _refused(tmp_path: Path, body: bytes) -> JSONObject:
    """Accept a ~5 KB event that Kafka (4 KB records) refuses; return its one dead letter."""
    publisher = MemoryPublisher(partitions=1, max_record_bytes=4_000)
    ingest = _ingest(tmp_path, publisher)
    await ingest.start()
    await publisher.start()
    loop = asyncio.get_running_loop()
    with pytest.raises(EventTooLargeError):  # the request learns it was dead-lettered
        await ingest.accept(
            _event(2_500), "kyc.events.v1", deadline=loop.time() + 5, origin=_origin(body)
        )
    async with asyncio.timeout(10):
        while not publisher.records("kyc.events.dlq.v1") or ingest.spool.events:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    (dead,) = publisher.records("kyc.events.dlq.v1")  # exactly one dead letter
    assert [] == publisher.records("kyc.events.v1")
    assert 0 == ingest.spool.events
    await ingest.stop()
    value = orjson.loads(dead.value)
    assert isinstance(value, dict)
    return value


async def test_a_record_kafka_refuses_is_dead_lettered_once_with_the_body_as_received(
    tmp_path: Path,
) -> None:
    """Regression: a refusal made two dead letters, one carrying the decrypted payload."""
    body = b'{"data":"ENCRYPTED-BODY-AS-RECEIVED=="}'
    data = (await _refused(tmp_path, body))["data"]
    assert isinstance(data, dict)
    assert ("event_too_large", body) == (data["reason"], base64.b64decode(str(data["body_b64"])))


async def test_a_dead_letter_kafka_refuses_too_becomes_a_body_less_one(tmp_path: Path) -> None:
    """Refused for good: dead-lettered; if that is refused too, a body-less dead letter."""
    data = (await _refused(tmp_path, b"x" * 4_000))["data"]  # its base64 alone is too big
    assert isinstance(data, dict)
    assert ("dead_letter_too_large", 0) == (data["reason"], data["size"])


async def test_restart_remembers_pending_ids_so_repeats_are_not_stored_twice(
    tmp_path: Path,
) -> None:
    """After a restart, a repeat of a still-spooled event is answered without a new row."""
    publisher = MemoryPublisher(partitions=1)
    publisher.down = True
    event = _event(10)
    first = _ingest(tmp_path, publisher)
    await first.start()
    loop = asyncio.get_running_loop()
    receipt = await first.accept(event, "kyc.events.v1", deadline=loop.time() + 0.1)
    assert "spool" == receipt.stored
    await first.stop()

    again = _ingest(tmp_path, publisher)
    await again.start()
    repeat = await again.accept(event, "kyc.events.v1", deadline=loop.time() + 0.1)
    assert (True, 1) == (repeat.duplicate, again.spool.events)
    publisher.down = False
    async with asyncio.timeout(10):
        while again.spool.events:
            await asyncio.sleep(0.02)
    assert 1 == len(publisher.records("kyc.events.v1"))
    await again.stop()
