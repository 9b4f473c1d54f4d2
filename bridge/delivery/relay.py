"""
The relay moves spooled records to Kafka in acceptance order.

Order argument: records leave the spool in `seq` order and are put into one
FIFO lane per (topic, partition); a key always maps to one partition. A lane
has at most one batch in flight and a failed batch is resent, whole, before
anything behind it. So a partition receives the first copy of each record in
`seq` order; a resend can add a duplicate (same event id) but never reorders.

Prerequisites: a record with `after = s` (on topic `after_topic`) is
published only once record `s` is acknowledged (e.g. the data key an event
is encrypted with, or the event a state record describes), also across
outages and restarts: `s` is acknowledged once it is below the lowest seq of
its topic still held in memory or on disk.

Held topics: a topic the caller holds (`held(topic)` true; the compacted topics
the bridge creates itself, until it has) is not asked for metadata and not
published to: asking a broker with `auto.create.topics.enable` for a missing
topic's metadata creates it with the broker's defaults. `wake()` once released.

Isolation and memory: each topic has its own feed with its own budget of
records and bytes. A topic Kafka cannot resolve (missing, denied) fills only
its own budget; beyond a budget, records stay on disk and are read back, per
topic, once there is room. So a blocked topic never holds back another.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from bridge.delivery.spool import Entry, Spool, SpooledRecord
from bridge.errors import InvalidPayloadError, PublishError, TransientError
from bridge.publish import Delivery, Publisher

__all__ = ["Relay"]

log = structlog.get_logger("bridge.relay")

DeliveredHook = Callable[[Sequence[SpooledRecord], Sequence[Delivery], float], None]
CrashHook = Callable[[str, BaseException], None]
#: Return the record that takes a refused record's place (a dead letter), or None.
RejectedHook = Callable[[SpooledRecord, bytes | None, InvalidPayloadError], Entry | None]
_NEVER = float("inf")


@dataclass(slots=True)
class _Feed:
    """One topic's records between the spool and its partition lanes."""

    topic: str
    unassigned: deque[SpooledRecord] = field(default_factory=deque)
    lanes: list[_Lane] = field(default_factory=list)
    records: int = 0  # held in memory (unassigned + lanes), not yet acknowledged
    bytes: int = 0
    cursor: int = 0  # highest seq of this topic taken into memory
    overflow: bool = False  # records past `cursor` may be on disk only
    missed_upto: int = 0  # highest seq of this topic left on disk while overflowing
    retry_at: float = 0.0  # loop time before which metadata is not asked again
    backoff: float = 0.05

    def low_watermark(self) -> float:
        """The lowest seq of this topic not yet acknowledged (inf if none)."""
        low = self.cursor + 1 if self.overflow else _NEVER
        if self.unassigned:
            low = min(low, self.unassigned[0].seq)
        for lane in self.lanes:
            if lane.queue:
                low = min(low, lane.queue[0].seq)
        return low


@dataclass(slots=True)
class _Lane:
    feed: _Feed
    partition: int
    queue: deque[SpooledRecord] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    single: bool = False  # one record per batch (isolating a record Kafka refuses)


class Relay:
    """Publishes spooled records partition by partition; see the module docstring."""

    def __init__(
        self,
        spool: Spool,
        publisher: Publisher,
        *,
        on_delivered: DeliveredHook,
        on_rejected: RejectedHook,
        on_crash: CrashHook | None = None,
        held: Callable[[str], bool] = lambda topic: False,
        batch_max_records: int = 500,
        batch_max_bytes: int = 512 * 1024,
        topic_buffer_records: int = 2_000,
        topic_buffer_bytes: int = 4 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._spool = spool
        self._publisher = publisher
        self._on_delivered = on_delivered
        self._on_rejected = on_rejected
        self._on_crash = on_crash or _log_crash
        self._held = held
        self._batch_records = batch_max_records
        self._batch_bytes = min(batch_max_bytes, publisher.max_batch_bytes)
        self._limit = topic_buffer_records
        self._bytes_limit = topic_buffer_bytes
        self._clock = clock
        self._feeds: dict[str, _Feed] = {}
        self._lanes: dict[tuple[str, int], _Lane] = {}
        self._waiters: dict[str, asyncio.Future[Delivery]] = {}
        self._wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._stopping = False
        self._starting = True
        self._start_topics: set[str] = set()
        self._start_missed = 0
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

    def wake(self) -> None:
        """Look at every feed again (e.g. a held topic was released)."""
        self._wake.set()

    @property
    def backlog(self) -> int:
        """Records held in memory and not yet acknowledged."""
        return sum(feed.records for feed in self._feeds.values())

    async def run(self) -> None:
        """
        Relay until stopped, beginning with whatever the spool holds from earlier runs.

        An unexpected exception forgets what is in memory and re-reads the spool
        (duplicates are possible, loss and reordering are not); the caller's
        supervisor restarts `run` after logging it.
        """
        self._reset()
        try:
            for topic in await self._spool.pending_topics():
                self._start_topics.add(topic)
            for topic in self._start_topics:
                feed = self._feed(topic)
                feed.overflow = True
                feed.missed_upto = self._start_missed
            self._starting = False
            self._wake.set()
            await self._loop()
        except Exception:
            self._reset()
            raise

    async def stop(self, grace_s: float) -> None:
        """Give batches in flight up to `grace_s` seconds, then stop; the rest stays spooled."""
        self._stopping = True
        self._wake.set()
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
        await _cancel(tasks)
        if self._timer is not None:
            self._timer.cancel()
        for future in self._waiters.values():
            future.cancel()

    # ------------------------------------------------------------------ intake

    def _reset(self) -> None:
        """Forget memory; every topic with pending rows is read back from the spool."""
        for lane in self._lanes.values():
            if lane.task is not None:
                lane.task.cancel()
        self._lanes.clear()
        self._feeds.clear()
        # Until the spool has said which topics have pending rows, commits are only
        # noted: those topics start from the disk, in order.
        self._starting = True
        self._start_topics = set()
        self._start_missed = 0

    def _feed(self, topic: str) -> _Feed:
        feed = self._feeds.get(topic)
        if feed is None:
            feed = self._feeds[topic] = _Feed(topic)
        return feed

    def _full(self, feed: _Feed) -> bool:
        return feed.records >= self._limit or feed.bytes >= self._bytes_limit

    def _on_committed(self, records: list[SpooledRecord]) -> None:
        for record in records:
            if self._starting:
                self._start_topics.add(record.topic)
                self._start_missed = max(self._start_missed, record.seq)
                continue
            feed = self._feed(record.topic)
            if record.seq <= feed.cursor:
                continue
            if feed.overflow or self._full(feed):
                feed.overflow = True  # left on disk; _refill reads it back
                feed.missed_upto = max(feed.missed_upto, record.seq)
                continue
            self._take(feed, record)
        self._wake.set()

    def _take(self, feed: _Feed, record: SpooledRecord) -> None:
        feed.unassigned.append(record)
        feed.records += 1
        feed.bytes += record.record.size
        feed.cursor = max(feed.cursor, record.seq)

    async def _refill(self, feed: _Feed) -> None:
        room = self._limit - feed.records
        byte_room = self._bytes_limit - feed.bytes
        if room <= self._limit // 2 or byte_room <= self._bytes_limit // 2:
            return
        rows = await self._spool.read_after(
            feed.cursor, room, max_bytes=byte_room, topic=feed.topic
        )
        for row in rows:
            if row.seq > feed.cursor:
                self._take(feed, row)
        # Caught up only if the read was cut by neither limit and reached everything
        # the commit stream skipped (commits that landed while the read was in flight).
        cut = len(rows) >= room or sum(r.record.size for r in rows) >= byte_room
        if not cut and feed.cursor >= feed.missed_upto:
            feed.overflow = False
        else:
            self._wake.set()

    # ------------------------------------------------------------------ main loop

    async def _loop(self) -> None:
        backoff = 0.05
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            try:
                for feed in list(self._feeds.values()):
                    if feed.overflow:
                        await self._refill(feed)
                    await self._assign(feed)
                backoff = 0.05
            except TransientError:  # a spool read failed: retry later
                self._wake_at(asyncio.get_running_loop().time() + backoff)
                backoff = min(backoff * 2, 2.0)
            self._start_lanes()

    def _wake_at(self, when: float) -> None:
        """Wake the main loop at loop time `when` (the earliest of all requests wins)."""
        if self._timer is not None:
            if self._timer.when() <= when:
                return
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._wake.set()

    async def _assign(self, feed: _Feed) -> None:
        """Move a feed's records into their partition lanes, in order."""
        if self._held(feed.topic):
            return  # no metadata request: it could create the topic (module docstring)
        now = asyncio.get_running_loop().time()
        if feed.retry_at > now:
            self._wake_at(feed.retry_at)
            return
        while feed.unassigned:
            record = feed.unassigned[0]
            try:
                partition = await self._publisher.partition_for(feed.topic, record.record.key)
            except PublishError:
                # No metadata (missing or denied topic, broker down): only this feed waits.
                feed.retry_at = asyncio.get_running_loop().time() + feed.backoff
                feed.backoff = min(feed.backoff * 2, 5.0)
                self._wake_at(feed.retry_at)
                return
            if not feed.unassigned or feed.unassigned[0] is not record:
                continue  # the feed was reset while we awaited
            feed.unassigned.popleft()
            feed.backoff = 0.05
            lane = self._lanes.get((feed.topic, partition))
            if lane is None:
                lane = self._lanes[(feed.topic, partition)] = _Lane(feed, partition)
                feed.lanes.append(lane)
            lane.queue.append(record)

    def _ready(self, record: SpooledRecord) -> bool:
        """Whether the record's prerequisite (if any) is acknowledged."""
        if not record.after or record.after_topic is None:
            return True
        feed = self._feeds.get(record.after_topic)
        return feed is None or record.after < feed.low_watermark()

    def _start_lanes(self) -> None:
        for lane in self._lanes.values():
            if (
                lane.queue
                and lane.task is None
                and not self._stopping
                and self._ready(lane.queue[0])
            ):
                lane.task = asyncio.create_task(self._drain(lane), name="relay-lane")

    def _next_batch(self, lane: _Lane) -> list[SpooledRecord]:
        batch: list[SpooledRecord] = []
        size = 0
        limit = 1 if lane.single else self._batch_records
        for record in lane.queue:
            if batch and (len(batch) >= limit or size + record.record.size > self._batch_bytes):
                break
            if not self._ready(record):
                break
            batch.append(record)
            size += record.record.size
        return batch

    async def _drain(self, lane: _Lane) -> None:
        backoff = 0.05
        try:
            while lane.queue and not self._stopping:
                batch = self._next_batch(lane)
                if not batch:
                    break  # waiting for a prerequisite; an acknowledgement wakes us
                try:
                    deliveries = await self._publisher.publish(
                        lane.feed.topic, lane.partition, [r.record for r in batch]
                    )
                except PublishError:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                except InvalidPayloadError as exc:
                    try:
                        await self._reject(lane, batch, exc)
                    except TransientError:  # the spool could not take the dead letter yet
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, 2.0)
                    continue
                except Exception as exc:  # a bug or an untranslated error: log, back off, retry
                    self._on_crash("relay-lane", exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                backoff = 0.05
                lane.single = False
                self._acknowledge(lane, batch[: len(deliveries)], deliveries)
        finally:
            lane.task = None
            self._wake.set()

    def _forget(self, lane: _Lane, records: Sequence[SpooledRecord]) -> None:
        for _ in records:
            lane.queue.popleft()
        lane.feed.records -= len(records)
        lane.feed.bytes -= sum(r.record.size for r in records)

    def _acknowledge(
        self, lane: _Lane, batch: Sequence[SpooledRecord], deliveries: Sequence[Delivery]
    ) -> None:
        self._forget(lane, batch)
        now = self._clock()
        self._spool.mark_done(batch, now)
        self._on_delivered(batch, deliveries, now)
        for record, delivery in zip(batch, deliveries, strict=True):
            future = self._waiters.pop(record.event_id, None)
            if future is not None and not future.done():
                future.set_result(delivery)

    async def _reject(
        self, lane: _Lane, batch: list[SpooledRecord], error: InvalidPayloadError
    ) -> None:
        """Kafka refuses a record for good: isolate it, then put its dead letter in its place."""
        if len(batch) > 1:
            lane.single = True
            return
        (record,) = batch
        replacement = self._on_rejected(record, await self._spool.origin(record.seq), error)
        if replacement is not None:
            await self._spool.replace(record, replacement)  # the stream brings it back
        else:
            self._spool.discard([record])
        self._forget(lane, batch)
        future = self._waiters.pop(record.event_id, None)
        if future is not None and not future.done():
            future.set_exception(error)
        log.error(
            "relay.dead_lettered" if replacement is not None else "relay.dropped",
            event_id=record.event_id,
            topic=record.topic,
            reason=error.code,
        )


def _log_crash(task: str, error: BaseException) -> None:
    log.error("task.crashed", task=task, error=type(error).__name__)


async def _cancel(tasks: Sequence[asyncio.Task[None] | None]) -> None:
    for task in tasks:
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
