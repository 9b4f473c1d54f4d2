"""An in-memory `Publisher` for tests and demos, with fault switches."""

from __future__ import annotations

import asyncio
import zlib
from collections import defaultdict
from collections.abc import Sequence

from bridge.errors import EventTooLargeError, PublishError
from bridge.publish.base import Delivery, ReadRecord, Record, TopicSpec

__all__ = ["MemoryPublisher"]


class MemoryPublisher:
    """
    Keeps every partition as a list. `down = True` makes every call fail with
    `PublishError`, like an unreachable cluster.
    """

    def __init__(
        self,
        *,
        partitions: int = 3,
        max_record_bytes: int = 1_000_000,
        max_batch_bytes: int = 1_004_096,
    ) -> None:
        self.partitions = partitions
        self.max_record_bytes = max_record_bytes
        self._max_batch_bytes = max_batch_bytes
        self.down = False
        self.log: defaultdict[tuple[str, int], list[Record]] = defaultdict(list)
        self.configs: dict[str, dict[str, str]] = {}  # topics created by ensure_topics
        self._started = False

    async def start(self) -> None:
        self._started = True

    async def stop(self) -> None:
        self._started = False

    @property
    def connected(self) -> bool:
        return self._started and not self.down

    @property
    def max_batch_bytes(self) -> int:
        return self._max_batch_bytes

    def _check(self) -> None:
        if not self._started:
            raise PublishError("publisher is not started")
        if self.down:
            raise PublishError("memory publisher is down")

    async def probe(self) -> bool:
        self._started = True  # like the Kafka adapter, a probe (re)connects
        return self.connected

    async def partition_for(self, topic: str, key: bytes, *, wait_s: float = 0.0) -> int:
        self._check()
        return zlib.crc32(key) % self.partitions

    async def publish(
        self, topic: str, partition: int, records: Sequence[Record]
    ) -> list[Delivery]:
        self._check()
        await asyncio.sleep(0)
        self._check()
        fitting: list[Record] = []
        size = 0
        for record in records:
            if record.size > self.max_record_bytes:
                if not fitting:
                    raise EventTooLargeError("record is larger than the broker accepts")
                break
            if fitting and size + record.size > self._max_batch_bytes:
                break
            fitting.append(record)
            size += record.size
        log = self.log[(topic, partition)]
        base = len(log)
        log.extend(fitting)
        return [Delivery(partition, base + i) for i in range(len(fitting))]

    def reader(self, topic: str) -> MemoryReader:
        return MemoryReader(self, topic)

    async def ensure_topics(self, specs: Sequence[TopicSpec]) -> list[str]:
        created = [s.name for s in specs if s.name not in self.configs]
        for spec in specs:
            self.configs.setdefault(spec.name, dict(spec.configs))
        return created

    def records(self, topic: str) -> list[Record]:
        """Every record of `topic`, partition by partition, in offset order."""
        return [r for (t, _), log in sorted(self.log.items()) if t == topic for r in log]


class MemoryReader:
    """Reads a `MemoryPublisher` topic back, like a consumer without a group."""

    def __init__(self, publisher: MemoryPublisher, topic: str) -> None:
        self._publisher = publisher
        self._topic = topic
        self._positions: dict[int, int] = {}

    async def start(self, positions: dict[int, int]) -> None:
        self._positions = dict(positions)

    async def read(self, timeout_s: float) -> list[ReadRecord]:
        found: list[ReadRecord] = []
        for (topic, partition), log in sorted(self._publisher.log.items()):
            if topic != self._topic:
                continue
            start = self._positions.get(partition, 0)
            found += [
                ReadRecord(
                    partition, offset, log[offset].key, log[offset].value, log[offset].headers
                )
                for offset in range(start, len(log))
            ]
            self._positions[partition] = len(log)
        if not found:
            await asyncio.sleep(min(timeout_s, 0.05))
        return found

    async def caught_up(self) -> bool:
        ends = {p: len(log) for (t, p), log in self._publisher.log.items() if t == self._topic}
        return all(self._positions.get(p, 0) >= end for p, end in ends.items())

    async def stop(self) -> None:
        self._positions = {}
