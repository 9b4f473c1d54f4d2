"""
The relay moves spooled records to Kafka in acceptance order.

Order argument: records leave the spool in `seq` order and are put into one
FIFO lane per (topic, partition); a key always maps to one partition. A lane
has at most one batch in flight and a failed batch is resent, whole, before
anything behind it. So a partition receives the first copy of each record in
`seq` order; a resend can add a duplicate (same event id) but never reorders.

Memory is bounded: at most `buffer_limit` records and `buffer_bytes` bytes are
held; beyond that the relay stops taking records from the commit stream and
reads them back from the spool once it has room.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from bridge.delivery.spool import Spool, SpooledRecord
from bridge.errors import InvalidPayloadError, PublishError, TransientError
from bridge.publish.base import Delivery, Publisher

__all__ = ["Relay"]

log = structlog.get_logger("bridge.delivery.relay")

DeliveredHook = Callable[[Sequence[SpooledRecord], Sequence[Delivery], float], None]
RejectedHook = Callable[[SpooledRecord, InvalidPayloadError], Awaitable[SpooledRecord | None]]


@dataclass(slots=True)
class _Lane:
    topic: str
    partition: int
    queue: deque[SpooledRecord] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    single: bool = False  # send one record per batch (isolating a record Kafka rejects)


class Relay:
    """Publishes spooled records partition by partition; see the module docstring."""

    def __init__(
        self,
        spool: Spool,
        publisher: Publisher,
        *,
        on_delivered: DeliveredHook,
        on_rejected: RejectedHook,
        batch_max_records: int = 500,
        batch_max_bytes: int = 512 * 1024,
        buffer_limit: int = 5_000,
        buffer_bytes: int = 16 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._spool = spool
        self._publisher = publisher
        self._on_delivered = on_delivered
        self._on_rejected = on_rejected
        self._batch_records = batch_max_records
        self._batch_bytes = batch_max_bytes
        self._limit = buffer_limit
        self._bytes_limit = buffer_bytes
        self._buffered_bytes = 0
        self._clock = clock
        # Records not yet given a partition, one FIFO per topic: a topic without metadata
        # (missing, denied) must not hold up the others; order only matters per key.
        self._unassigned: dict[str, deque[SpooledRecord]] = {}
        self._lanes: dict[tuple[str, int], _Lane] = {}
        self._waiters: dict[str, asyncio.Future[Delivery]] = {}
        self._buffered = 0
        self._last_seq = 0
        self._overflow = True  # start by reading the backlog from disk
        self._adopted: set[int] = set()  # replacements taken directly, not from the stream
        self._missed_upto = 0  # highest committed seq left on disk while overflowing
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        spool.subscribe(self._on_committed)

    # ------------------------------------------------------------------ API

    def waiter(self, event_id: str) -> asyncio.Future[Delivery]:
        """Return a future that resolves when event `event_id` is acknowledged by Kafka."""
        future = self._waiters.get(event_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiters[event_id] = future
        return future

    def release(self, event_id: str) -> None:
        """Stop tracking the waiter of `event_id` (its request has been answered)."""
        future = self._waiters.pop(event_id, None)
        if future is not None and not future.done():
            future.cancel()

    @property
    def backlog(self) -> int:
        """Records held in memory and not yet acknowledged."""
        return self._buffered

    async def start(self) -> None:
        """Start relaying, beginning with whatever the spool holds from earlier runs."""
        self._task = asyncio.create_task(self._run(), name="relay")
        self._wake.set()

    async def stop(self, grace_s: float) -> None:
        """Give batches in flight up to `grace_s` seconds, then stop; the rest stays spooled."""
        self._stopping = True
        self._wake.set()
        lanes = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if lanes:
            await asyncio.wait(lanes, timeout=grace_s)
        for task in [*lanes, self._task]:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for future in self._waiters.values():
            future.cancel()

    # ------------------------------------------------------------------ intake

    def _on_committed(self, records: list[SpooledRecord]) -> None:
        for record in records:
            if record.seq <= self._last_seq:
                continue
            if (
                self._overflow
                or self._buffered >= self._limit
                or self._buffered_bytes >= self._bytes_limit
            ):
                # Left on disk; _refill reads it back (and must get at least this far).
                self._overflow = True
                self._missed_upto = max(self._missed_upto, records[-1].seq)
                break
            self._take(record)
        self._wake.set()

    def _take(self, record: SpooledRecord) -> None:
        if record.seq in self._adopted:  # already queued by _reject: only move past it
            self._last_seq = max(self._last_seq, record.seq)
            return
        self._queue_for(record.topic).append(record)
        self._buffered += 1
        self._buffered_bytes += record.record.size
        self._last_seq = max(self._last_seq, record.seq)

    def _queue_for(self, topic: str) -> deque[SpooledRecord]:
        queue = self._unassigned.get(topic)
        if queue is None:
            queue = self._unassigned[topic] = deque()
        return queue

    async def _refill(self) -> None:
        room = self._limit - self._buffered
        byte_room = self._bytes_limit - self._buffered_bytes
        if room <= self._limit // 2 or byte_room <= self._bytes_limit // 2:
            return
        # Replacements behind the read position can never be read again: forget them.
        self._adopted = {seq for seq in self._adopted if seq > self._last_seq}
        rows = await self._spool.read_after(self._last_seq, room, max_bytes=byte_room)
        for row in rows:
            if row.seq > self._last_seq:
                self._take(row)
        # Caught up only if the read was cut by neither limit and reached everything the
        # commit stream skipped (commits that landed while the read was in flight).
        full = len(rows) >= room or sum(r.record.size for r in rows) >= byte_room
        if not full and self._last_seq >= self._missed_upto:
            self._overflow = False
        else:
            self._wake.set()

    # ------------------------------------------------------------------ main loop

    async def _run(self) -> None:
        backoff = 0.05
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            try:
                if self._overflow:
                    await self._refill()
                await self._assign()
                backoff = 0.05
            except TransientError:
                # No metadata yet (broker down), or a spool read failed: retry later.
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                self._wake.set()
            for lane in self._lanes.values():
                if lane.queue and lane.task is None and not self._stopping:
                    lane.task = asyncio.create_task(self._drain(lane))

    async def _assign(self) -> None:
        """Move records into their partition lanes, topic by topic, in order."""
        failed: PublishError | None = None
        for topic, queue in list(self._unassigned.items()):
            while queue:
                # Taken off before the await: _reject may put a record at the front meanwhile.
                record = queue.popleft()
                try:
                    partition = await self._publisher.partition_for(topic, record.record.key)
                except PublishError as exc:
                    queue.appendleft(record)
                    failed = exc
                    break
                lane = self._lanes.get((topic, partition))
                if lane is None:
                    lane = self._lanes[(topic, partition)] = _Lane(topic, partition)
                lane.queue.append(record)
        if failed is not None:
            raise failed

    def _next_batch(self, lane: _Lane) -> list[SpooledRecord]:
        batch: list[SpooledRecord] = []
        size = 0
        limit = 1 if lane.single else self._batch_records
        for record in lane.queue:
            if batch and (len(batch) >= limit or size + record.record.size > self._batch_bytes):
                break
            batch.append(record)
            size += record.record.size
        return batch

    async def _drain(self, lane: _Lane) -> None:
        backoff = 0.05
        try:
            while lane.queue and not self._stopping:
                batch = self._next_batch(lane)
                try:
                    deliveries = await self._publisher.publish(
                        lane.topic, lane.partition, [r.record for r in batch]
                    )
                except PublishError:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                except InvalidPayloadError as exc:
                    await self._reject(lane, batch, exc)
                    continue
                backoff = 0.05
                lane.single = False
                self._acknowledge(lane, batch, deliveries)
        finally:
            lane.task = None
            self._wake.set()

    def _acknowledge(
        self, lane: _Lane, batch: list[SpooledRecord], deliveries: list[Delivery]
    ) -> None:
        for _ in batch:
            lane.queue.popleft()
        self._buffered -= len(batch)
        self._buffered_bytes -= sum(r.record.size for r in batch)
        now = self._clock()
        self._spool.mark_done(batch, now)
        self._on_delivered(batch, deliveries, now)
        for record, delivery in zip(batch, deliveries, strict=True):
            future = self._waiters.pop(record.event_id, None)
            if future is not None and not future.done():
                future.set_result(delivery)
        if self._overflow:
            self._wake.set()

    async def _reject(
        self, lane: _Lane, batch: list[SpooledRecord], error: InvalidPayloadError
    ) -> None:
        """Kafka refuses a record for good: isolate it, then dead-letter it in its place."""
        if len(batch) > 1:
            lane.single = True
            return
        (record,) = batch
        replacement = await self._on_rejected(record, error)
        lane.queue.popleft()
        self._buffered -= 1
        self._buffered_bytes -= record.record.size
        future = self._waiters.pop(record.event_id, None)
        if future is not None and not future.done():
            future.set_exception(error)
        if replacement is not None:
            self._adopted.add(replacement.seq)
            self._queue_for(replacement.topic).appendleft(replacement)
            self._buffered += 1
            self._buffered_bytes += replacement.record.size
        else:
            self._spool.discard([record])
        log.error("relay.dead_lettered", event_id=record.event_id, reason=error.code)
