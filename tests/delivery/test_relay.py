"""The relay: per-partition order across outages, bounded memory, poison isolation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from bridge.config import SpoolSettings
from bridge.delivery.relay import Relay
from bridge.delivery.spool import Entry, Prerequisite, Spool, SpooledRecord
from bridge.errors import InvalidPayloadError, PublishError, SpoolUnavailableError
from bridge.publish import Delivery, Record
from bridge.publish.memory import MemoryPublisher


class Harness:
    """A spool + relay + memory publisher, recording what was delivered."""

    def __init__(
        self,
        tmp_path: Path,
        publisher: MemoryPublisher,
        *,
        buffer_limit: int = 20_000,
        batch_max_records: int = 500,
        buffer_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.spool = Spool(SpoolSettings(directory=tmp_path))
        self.publisher = publisher
        self.delivered: list[str] = []
        self.rejected: list[str] = []
        self.crashes: list[str] = []
        self.relay = Relay(
            self.spool,
            publisher,
            on_delivered=self._delivered,
            on_rejected=self._rejected,
            on_crash=lambda task, error: self.crashes.append(type(error).__name__),
            topic_buffer_records=buffer_limit,
            batch_max_records=batch_max_records,
            topic_buffer_bytes=buffer_bytes,
        )
        self._task: asyncio.Task[None] | None = None

    def _delivered(
        self, records: Sequence[SpooledRecord], _: Sequence[Delivery], __: float
    ) -> None:
        self.delivered.extend(r.event_id for r in records)

    def _rejected(
        self, record: SpooledRecord, _: bytes | None, __: InvalidPayloadError
    ) -> Entry | None:
        self.rejected.append(record.event_id)
        return None

    async def put(self, event_id: str, topic: str, record: Record, after: int = 0) -> int:
        prerequisite = Prerequisite("keys", after) if after else None
        (appended,) = await self.spool.append([Entry(event_id, topic, record, prerequisite)])
        assert appended.record is not None
        return appended.record.seq

    async def __aenter__(self) -> Harness:
        await self.spool.open()
        await self.publisher.start()
        self._task = asyncio.create_task(self.relay.run())
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.relay.stop(1.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.spool.close()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(30):  # generous: CI machines may be loaded
            while len(self.delivered) + len(self.rejected) < count:
                await asyncio.sleep(0.01)


def _record(key: str, i: int, size: int = 20) -> Record:
    return Record(key.encode(), f"{key}:{i}".encode().ljust(size, b"."))


def _per_key(publisher: MemoryPublisher) -> dict[str, list[int]]:
    order: dict[str, list[int]] = {}
    for record in publisher.records("t"):
        key, i = (record.value or b"").rstrip(b".").decode().split(":")
        order.setdefault(key, []).append(int(i))
    return order


async def test_order_per_key_survives_an_outage(tmp_path: Path) -> None:
    """Records accepted during an outage reach Kafka after it, each key in acceptance order."""
    publisher = MemoryPublisher(partitions=3)
    async with Harness(tmp_path, publisher) as h:
        for i in range(30):
            await h.put(f"e{i}", "t", _record(f"k{i % 5}", i))
        await h.wait_for(30)
        publisher.down = True
        for i in range(30, 90):
            await h.put(f"e{i}", "t", _record(f"k{i % 5}", i))
        await asyncio.sleep(0.3)
        assert 30 == len(h.delivered)
        publisher.down = False
        await h.wait_for(90)
    for key, seen in _per_key(publisher).items():
        assert sorted(seen) == seen, key
    assert 90 == sum(len(v) for v in _per_key(publisher).values())
    assert 0 == h.spool.events


async def test_backlog_from_an_earlier_run_is_sent_first(tmp_path: Path) -> None:
    """Rows left in the spool by a previous process are published, in order, on start."""
    first = Spool(SpoolSettings(directory=tmp_path))
    await first.open()
    for i in range(10):
        await first.append([Entry(f"e{i}", "t", _record("k", i))])
    await first.close()
    publisher = MemoryPublisher(partitions=1)
    async with Harness(tmp_path, publisher) as h:
        await h.wait_for(10)
        for i in range(10, 15):
            await h.put(f"e{i}", "t", _record("k", i))
        await h.wait_for(15)
    assert list(range(15)) == _per_key(publisher)["k"]


async def test_memory_stays_bounded_and_overflow_is_read_back(tmp_path: Path) -> None:
    """With a tiny buffer, everything still arrives in order via reads from disk."""
    publisher = MemoryPublisher(partitions=2)
    publisher.down = True
    async with Harness(tmp_path, publisher, buffer_limit=8, batch_max_records=3) as h:
        for i in range(60):
            await h.put(f"e{i}", "t", _record(f"k{i % 3}", i))
        assert h.relay.backlog <= 8
        publisher.down = False
        await h.wait_for(60)
    for seen in _per_key(publisher).values():
        assert sorted(seen) == seen
    assert 60 == sum(len(v) for v in _per_key(publisher).values())


async def test_a_poison_record_does_not_block_the_ones_behind_it(tmp_path: Path) -> None:
    """A record Kafka refuses for good is isolated and handed off; later ones flow."""
    publisher = MemoryPublisher(partitions=1, max_record_bytes=100)
    async with Harness(tmp_path, publisher) as h:
        await h.put("ok-1", "t", _record("k", 1))
        await h.put("poison", "t", _record("k", 2, size=500))
        for i in range(3, 8):
            await h.put(f"ok-{i}", "t", _record("k", i))
        await h.wait_for(7)
    assert ["poison"] == h.rejected
    assert [1, 3, 4, 5, 6, 7] == _per_key(publisher)["k"]


class RacingSpool:
    """A spool whose first read misses a record committed while that read is in flight."""

    def __init__(self) -> None:
        self.rows = [SpooledRecord(i, f"e{i}", "t", _record("k", i), 0.0) for i in range(1, 4)]
        self.subscriber: Callable[[list[SpooledRecord]], None] | None = None
        self.raced = False

    def subscribe(self, callback: Callable[[list[SpooledRecord]], None]) -> None:
        self.subscriber = callback

    async def pending_topics(self) -> list[str]:
        return sorted({r.topic for r in self.rows})

    async def read_after(
        self, seq: int, limit: int, *, max_bytes: int | None = None, topic: str | None = None
    ) -> list[SpooledRecord]:
        result = [r for r in self.rows if r.seq > seq and topic in (None, r.topic)][:limit]
        if not self.raced and self.subscriber is not None:
            self.raced = True
            late = SpooledRecord(4, "e4", "t", _record("k", 4), 0.0)
            self.rows.append(late)
            self.subscriber([late])  # its commit callback beats the read's result
        return result

    def mark_done(self, done: Sequence[SpooledRecord], acked_at: float) -> None:
        self.rows = [r for r in self.rows if r not in done]


async def _relay_all(spool: RacingSpool, count: int) -> list[str]:
    """Run a relay over a fake spool until `count` records are delivered; return their ids."""
    publisher = MemoryPublisher(partitions=1)
    await publisher.start()
    delivered: list[str] = []

    def reject(record: SpooledRecord, _: bytes | None, __: InvalidPayloadError) -> None:
        raise AssertionError(record.event_id)

    relay = Relay(
        cast(Spool, spool),
        publisher,
        on_delivered=lambda records, _, __: delivered.extend(r.event_id for r in records),
        on_rejected=reject,
    )
    task = asyncio.create_task(relay.run())
    async with asyncio.timeout(10):
        while len(delivered) < count:
            await asyncio.sleep(0.01)
    await relay.stop(1.0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return delivered


async def test_a_commit_during_the_backlog_read_is_not_stranded() -> None:
    """Records committed while the relay reads its backlog are published too, in order."""
    assert ["e1", "e2", "e3", "e4"] == await _relay_all(RacingSpool(), 4)


class PickyPublisher(MemoryPublisher):
    """A memory publisher that has no metadata for some topics (missing or denied)."""

    def __init__(self, blocked: set[str]) -> None:
        super().__init__(partitions=2)
        self.blocked = blocked

    async def partition_for(self, topic: str, key: bytes, *, wait_s: float = 0.0) -> int:
        if topic in self.blocked:
            raise PublishError(f"no metadata for {topic}")
        return await super().partition_for(topic, key)


async def test_a_topic_without_metadata_does_not_hold_up_other_topics(tmp_path: Path) -> None:
    """Records for a topic Kafka can't resolve wait; those of other topics flow past them."""
    publisher = PickyPublisher({"dlq"})
    async with Harness(tmp_path, publisher) as h:
        await h.put("dead", "dlq", _record("dlq:p", 0))
        for i in range(1, 6):
            await h.put(f"e{i}", "t", _record("k", i))
        await h.wait_for(5)
        assert [1, 2, 3, 4, 5] == _per_key(publisher)["k"]
        publisher.blocked.clear()
        await h.wait_for(6)
    assert "dead" in h.delivered


async def test_backlog_reads_respect_the_byte_budget(tmp_path: Path) -> None:
    """A large backlog is read back in byte-bounded slices, not all at once."""
    first = Spool(SpoolSettings(directory=tmp_path))
    await first.open()
    for i in range(40):
        await first.append([Entry(f"e{i}", "t", _record(f"k{i % 4}", i, size=10_000))])
    await first.close()
    publisher = MemoryPublisher(partitions=2)
    publisher.down = True
    harness = Harness(tmp_path, publisher, buffer_bytes=50_000)
    async with harness as h:
        await asyncio.sleep(0.5)
        assert h.relay.backlog <= 6  # ~50 KB of 10 KB records
        publisher.down = False
        await h.wait_for(40)
    for seen in _per_key(publisher).values():
        assert sorted(seen) == seen


class FlakySpool(RacingSpool):
    """A spool whose first backlog read fails like a disk error."""

    def __init__(self) -> None:
        super().__init__()
        self.raced = True  # no race here
        self.failed = False

    async def read_after(
        self, seq: int, limit: int, *, max_bytes: int | None = None, topic: str | None = None
    ) -> list[SpooledRecord]:
        if not self.failed:
            self.failed = True
            raise SpoolUnavailableError("spool write failed: OperationalError")
        return await super().read_after(seq, limit, max_bytes=max_bytes, topic=topic)


async def test_a_failed_spool_read_does_not_stop_the_relay() -> None:
    """After a transient spool error the relay retries and publishes everything."""
    assert ["e1", "e2", "e3"] == await _relay_all(FlakySpool(), 3)


async def test_a_blocked_topic_that_fills_its_budget_does_not_stop_other_topics(
    tmp_path: Path,
) -> None:
    """Regression: a blocked topic's records filled the shared buffer and stalled every topic."""
    publisher = PickyPublisher({"dlq"})
    async with Harness(tmp_path, publisher, buffer_limit=10, buffer_bytes=8_000) as h:
        for i in range(60):  # far beyond the blocked topic's budget, by count and bytes
            await h.put(f"dead-{i}", "dlq", _record("dlq:p", i, size=1_000))
        for i in range(1, 41):
            await h.put(f"e{i}", "t", _record("k", i))
        await h.wait_for(40)
        assert list(range(1, 41)) == _per_key(publisher)["k"]
        assert h.relay.backlog <= 10 + 10  # two topics, each within its own budget
        publisher.blocked.clear()
        await h.wait_for(100)
    assert 100 == len(h.delivered)


async def test_a_record_waits_for_its_prerequisite_to_be_acknowledged(tmp_path: Path) -> None:
    """A record with `after` is published only after that record (e.g. its data key) is acked."""
    publisher = PickyPublisher({"keys"})
    async with Harness(tmp_path, publisher) as h:
        key_seq = await h.put("key-1", "keys", _record("s1/k", 0))
        await h.put("ev-1", "t", _record("s1", 1), after=key_seq)
        await h.put("other", "u", _record("s2", 2))  # no prerequisite: flows at once
        await h.wait_for(1)
        await asyncio.sleep(0.3)
        assert ["other"] == h.delivered
        publisher.blocked.clear()
        await h.wait_for(3)
    assert ["other", "key-1", "ev-1"] == h.delivered


async def test_prerequisites_hold_across_a_restart(tmp_path: Path) -> None:
    """After a restart the backlog's prerequisites are still published first."""
    first = Spool(SpoolSettings(directory=tmp_path))
    await first.open()
    (key,) = await first.append([Entry("key-1", "keys", _record("s1/k", 0))])
    assert key.record is not None
    after = Prerequisite("keys", key.record.seq)
    await first.append([Entry(f"ev-{i}", "t", _record("s1", i), after) for i in range(1, 4)])
    await first.close()
    publisher = PickyPublisher({"keys"})
    async with Harness(tmp_path, publisher) as h:
        await asyncio.sleep(0.3)
        assert [] == h.delivered
        publisher.blocked.clear()
        await h.wait_for(4)
    assert "key-1" == h.delivered[0]


class CountingPublisher(MemoryPublisher):
    """A memory publisher that counts publish calls."""

    def __init__(self, **options: int) -> None:
        super().__init__(**options)
        self.calls = 0

    async def publish(
        self, topic: str, partition: int, records: Sequence[Record]
    ) -> list[Delivery]:
        self.calls += 1
        return await super().publish(topic, partition, records)


async def test_batches_are_sized_to_what_the_producer_holds(tmp_path: Path) -> None:
    """Regression: batches larger than a producer batch fell back to one record per call."""
    publisher = CountingPublisher(partitions=1, max_batch_bytes=5_000)
    publisher.down = True
    async with Harness(tmp_path, publisher) as h:
        for i in range(100):
            await h.put(f"e{i}", "t", _record("k", i, size=990))
        publisher.down = False
        await h.wait_for(100)
    assert list(range(100)) == _per_key(publisher)["k"]
    assert publisher.calls <= 30  # ~5 records per call, not 100 calls


class CrashingPublisher(MemoryPublisher):
    """A memory publisher whose first publish raises an error no adapter should let out."""

    def __init__(self) -> None:
        super().__init__(partitions=1)
        self.crashed = False

    async def publish(
        self, topic: str, partition: int, records: Sequence[Record]
    ) -> list[Delivery]:
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("boom")
        return await super().publish(topic, partition, records)


async def test_an_unexpected_publish_error_is_reported_and_retried(tmp_path: Path) -> None:
    """A lane that hits an unexpected exception reports it and keeps delivering."""
    publisher = CrashingPublisher()
    async with Harness(tmp_path, publisher) as h:
        for i in range(5):
            await h.put(f"e{i}", "t", _record("k", i))
        await h.wait_for(5)
    assert ["RuntimeError"] == h.crashes
    assert list(range(5)) == _per_key(publisher)["k"]
