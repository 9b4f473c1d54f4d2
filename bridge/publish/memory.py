"""An in-memory `Publisher` for tests and demos, with fault switches."""

from __future__ import annotations

import asyncio
import zlib
from collections import defaultdict
from collections.abc import Sequence

from bridge.errors import EventTooLargeError, PublishError
from bridge.publish.base import Delivery, Record

__all__ = ["MemoryPublisher"]


class MemoryPublisher:
    """
    Keeps every partition as a list. `down = True` makes every call fail with
    `PublishError`, like an unreachable cluster.
    """

    def __init__(self, *, partitions: int = 3, max_record_bytes: int = 1_000_000) -> None:
        self.partitions = partitions
        self.max_record_bytes = max_record_bytes
        self.down = False
        self.log: defaultdict[tuple[str, int], list[Record]] = defaultdict(list)
        self._started = False

    async def start(self) -> None:
        self._started = True

    async def stop(self) -> None:
        self._started = False

    @property
    def connected(self) -> bool:
        return self._started and not self.down

    def _check(self) -> None:
        if not self._started:
            raise PublishError("publisher is not started")
        if self.down:
            raise PublishError("memory publisher is down")

    async def partition_for(self, topic: str, key: bytes) -> int:
        self._check()
        return zlib.crc32(key) % self.partitions

    async def publish(
        self, topic: str, partition: int, records: Sequence[Record]
    ) -> list[Delivery]:
        self._check()
        await asyncio.sleep(0)
        self._check()
        if any(r.size > self.max_record_bytes for r in records):
            raise EventTooLargeError("record is larger than the broker accepts")
        log = self.log[(topic, partition)]
        base = len(log)
        log.extend(records)
        return [Delivery(partition, base + i) for i in range(len(records))]

    def records(self, topic: str) -> list[Record]:
        """Every record of `topic`, partition by partition, in offset order."""
        return [r for (t, _), log in sorted(self.log.items()) if t == topic for r in log]
