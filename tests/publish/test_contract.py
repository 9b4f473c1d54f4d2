"""
One contract suite for every `Publisher`: the in-memory adapter and the aiokafka
adapter against a real broker must behave the same.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from bridge.config import KafkaSettings
from bridge.errors import EventTooLargeError, PublishError
from bridge.publish import Publisher, Record
from bridge.publish.kafka import KafkaPublisher
from bridge.publish.memory import MemoryPublisher
from tests.support.bridge_proc import free_port, read_topic
from tests.support.broker import Broker


@dataclass
class Adapter:
    """A publisher under test plus a way to read a partition back."""

    publisher: Publisher
    topic: str
    read: Callable[[str, int], object]


async def _read_memory(publisher: MemoryPublisher, topic: str, partition: int) -> list[Record]:
    return list(publisher.log[(topic, partition)])


@pytest.fixture(name="adapter", params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
async def _adapter(request: pytest.FixtureRequest) -> AsyncIterator[Adapter]:
    topic = f"contract-{uuid.uuid4().hex[:8]}"
    if request.param == "memory":
        memory = MemoryPublisher(partitions=3)
        await memory.start()
        yield Adapter(memory, topic, lambda t, p: _read_memory(memory, t, p))
        await memory.stop()
        return
    kafka: Broker = request.getfixturevalue("kafka")
    await kafka.acreate_topic(topic, partitions=3)
    publisher = KafkaPublisher(KafkaSettings(bootstrap_servers=kafka.bootstrap))
    await publisher.start()

    async def read(t: str, p: int) -> list[Record]:
        records = await read_topic(kafka.bootstrap, t, min_count=1, timeout=10)
        return [
            Record(r.key or b"", r.value or b"", tuple(r.headers.items()))
            for r in sorted(records, key=lambda r: r.offset)
            if r.partition == p
        ]

    yield Adapter(publisher, topic, read)
    await publisher.stop()


def _records(n: int, key: bytes = b"sub-1") -> list[Record]:
    return [
        Record(key, f"value-{i}".encode(), (("ce_id", f"id-{i}".encode()), ("content-type", b"x")))
        for i in range(n)
    ]


async def test_batch_lands_in_order_with_consecutive_offsets(adapter: Adapter) -> None:
    """A batch is appended in order; offsets are consecutive; headers survive."""
    publisher = adapter.publisher
    partition = await publisher.partition_for(adapter.topic, b"sub-1", wait_s=10)
    records = _records(5)
    deliveries = await publisher.publish(adapter.topic, partition, records)
    offsets = [d.offset for d in deliveries]
    assert list(range(offsets[0], offsets[0] + 5)) == offsets
    assert {partition} == {d.partition for d in deliveries}
    assert records == await adapter.read(adapter.topic, partition)  # type: ignore[misc]
    assert publisher.connected


async def test_partition_for_is_stable_and_in_range(adapter: Adapter) -> None:
    """The same key always maps to the same partition, and every partition is valid."""
    publisher = adapter.publisher
    keys = [f"sub-{i}".encode() for i in range(50)]
    first = [await publisher.partition_for(adapter.topic, k, wait_s=10) for k in keys]
    again = [await publisher.partition_for(adapter.topic, k, wait_s=10) for k in keys]
    assert first == again
    assert set(first) <= {0, 1, 2}
    assert len(set(first)) > 1


async def test_oversized_record_is_a_permanent_error(adapter: Adapter) -> None:
    """A record larger than the cluster accepts raises EventTooLargeError, not PublishError."""
    publisher = adapter.publisher
    partition = await publisher.partition_for(adapter.topic, b"big", wait_s=10)
    with pytest.raises(EventTooLargeError):
        await publisher.publish(adapter.topic, partition, [Record(b"big", b"x" * 3_000_000)])
    # ... and the publisher is still usable afterwards
    assert 1 == len(await publisher.publish(adapter.topic, partition, _records(1, b"big")))


@pytest.mark.parametrize("kind", ["memory", "kafka"])
async def test_unreachable_cluster_is_a_transient_error(kind: str) -> None:
    """No cluster: calls raise PublishError (retry later) and `connected` is false."""
    publisher: Publisher
    if kind == "memory":
        memory = MemoryPublisher()
        await memory.start()
        memory.down = True
        publisher = memory
    else:
        publisher = KafkaPublisher(
            KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", request_timeout_ms=2000)
        )
        await publisher.start()
    with pytest.raises(PublishError):
        await publisher.partition_for("any-topic", b"k", wait_s=10)
    with pytest.raises(PublishError):
        await publisher.publish("any-topic", 0, _records(1))
    assert not publisher.connected
    await publisher.stop()


async def test_a_reader_is_caught_up_only_once_it_read_every_record(adapter: Adapter) -> None:
    """`caught_up` is false while records are left to read (an empty read is not enough)."""
    publisher = adapter.publisher
    partition = await publisher.partition_for(adapter.topic, b"sub-1", wait_s=10)
    await publisher.publish(adapter.topic, partition, _records(3))
    reader = publisher.reader(adapter.topic)
    await reader.start({})
    try:
        assert not await reader.caught_up()
        read: list[object] = []
        async with asyncio.timeout(20):
            while len(read) < 3:
                read += await reader.read(0.5)
        assert await reader.caught_up()
        await publisher.publish(adapter.topic, partition, _records(1))
        assert not await reader.caught_up()
    finally:
        await reader.stop()
