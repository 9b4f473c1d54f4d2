"""
An in-memory publisher whose topic readers hold back until released: a follower that has
not caught up yet (a fresh replica, a slow cluster), made deterministic.
"""

from __future__ import annotations

import asyncio

from bridge.publish import ReadRecord
from bridge.publish.memory import MemoryPublisher, MemoryReader

__all__ = ["GatedPublisher", "GatedReader"]


class GatedReader(MemoryReader):
    """A memory reader that returns nothing until `gate` is set."""

    def __init__(self, publisher: MemoryPublisher, topic: str, gate: asyncio.Event) -> None:
        super().__init__(publisher, topic)
        self._gate = gate

    async def read(self, timeout_s: float) -> list[ReadRecord]:
        await self._gate.wait()
        return await super().read(timeout_s)


class GatedPublisher(MemoryPublisher):
    """A one-partition memory publisher whose readers wait for `gate` (set it to release)."""

    def __init__(self) -> None:
        super().__init__(partitions=1)
        self.gate = asyncio.Event()

    def reader(self, topic: str) -> MemoryReader:
        return GatedReader(self, topic, self.gate)
