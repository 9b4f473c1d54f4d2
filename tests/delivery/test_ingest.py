"""The delivery contract in one place: Ingest over a real spool and the memory publisher."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from bridge.config import load_settings
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


async def test_an_event_kafka_refuses_ends_in_the_dlq_even_if_its_dead_letter_is_too_big(
    tmp_path: Path,
) -> None:
    """Refused for good: dead-lettered; if that is refused too, a body-less dead letter."""
    publisher = MemoryPublisher(partitions=1, max_record_bytes=4_000)
    ingest = _ingest(tmp_path, publisher)
    await ingest.start()
    await publisher.start()
    event = _event(2_500)  # ~5 KB value: too big; its base64 dead letter is bigger still
    loop = asyncio.get_running_loop()
    with pytest.raises(EventTooLargeError):  # the request learns it was dead-lettered
        await ingest.accept(event, "kyc.events.v1", deadline=loop.time() + 2)
    async with asyncio.timeout(10):
        while not publisher.records("kyc.events.dlq.v1") or ingest.spool.events:
            await asyncio.sleep(0.02)
    (dead,) = publisher.records("kyc.events.dlq.v1")
    value = orjson.loads(dead.value)
    assert "dead_letter_too_large" == value["data"]["reason"]
    assert [] == publisher.records("kyc.events.v1")
    assert 0 == ingest.spool.events
    await ingest.stop(1.0)


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
    await first.stop(0.5)

    again = _ingest(tmp_path, publisher)
    await again.start()
    repeat = await again.accept(event, "kyc.events.v1", deadline=loop.time() + 0.1)
    assert (True, 1) == (repeat.duplicate, again.spool.events)
    publisher.down = False
    async with asyncio.timeout(10):
        while again.spool.events:
            await asyncio.sleep(0.02)
    assert 1 == len(publisher.records("kyc.events.v1"))
    await again.stop(1.0)
