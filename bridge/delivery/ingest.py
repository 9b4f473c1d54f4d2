"""
Accepting events: the delivery contract in one place.

`accept` answers only when the event is durable: fsynced to the spool, and
then either acknowledged by Kafka within the publish deadline ("kafka") or
left for the relay ("spool"). Anything else raises, so no 2xx is ever given
for an event that is not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import structlog

from bridge.config import Settings
from bridge.deadletter import build_dead_letter
from bridge.delivery.dedup import DedupWindow
from bridge.delivery.relay import Relay
from bridge.delivery.spool import Spool, SpooledRecord
from bridge.errors import EventTooLargeError, InvalidPayloadError, ShuttingDownError
from bridge.events import Event
from bridge.metrics import Metrics
from bridge.publish.base import Delivery, Publisher, Record

__all__ = ["Ingest", "Receipt"]

log = structlog.get_logger("bridge.delivery.ingest")

_READY_ROOM = 16 * 1024  # /readyz wants room for at least one large webhook
_RESERVED = -1
_UNWRITABLE = "dead_letter_too_large"  # _inflight marker: the spool write is still in progress


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a 2xx promises: where the event is stored."""

    event_id: str
    stored: Literal["kafka", "spool"]
    duplicate: bool = False
    delivery: Delivery | None = None


class Ingest:
    """Owns spool, relay, dedup window and publisher; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        publisher: Publisher,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._publisher = publisher
        self._metrics = metrics
        self._clock = clock
        self.spool = Spool(settings.spool, clock=clock)
        self._dedup = DedupWindow(settings.dedup_window_s, settings.dedup_max_entries, clock=clock)
        self._inflight: dict[str, int] = {}
        self.relay = Relay(
            self.spool,
            publisher,
            on_delivered=self._delivered,
            on_rejected=self._rejected,
            clock=clock,
        )
        self.closing = False
        self._monitor: asyncio.Task[None] | None = None
        self._connecting: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the spool, restore the dedup window, connect and start relaying."""
        await self.spool.open()
        self._inflight = await self.spool.pending_ids()
        self._dedup.load(
            await self.spool.delivered_since(self._clock() - self._settings.dedup_window_s)
        )
        # Connecting happens in the background (the monitor retries): a broker that
        # is down at startup must not keep the bridge from accepting into the spool.
        await self.relay.start()
        self._monitor = asyncio.create_task(self._watch(), name="ingest-monitor")
        log.info("spool.opened", events=self.spool.events, bytes=self.spool.bytes)

    async def stop(self, grace_s: float) -> None:
        """Let in-flight batches finish within `grace_s`, then close everything in order."""
        self.closing = True
        for task in (self._monitor, self._connecting):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        await self.relay.stop(grace_s * 0.7)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._publisher.stop(), max(0.5, deadline - loop.time()))
        await self.spool.close()
        log.info("spool.closed", events=self.spool.events, bytes=self.spool.bytes)

    @property
    def publisher_connected(self) -> bool:
        """Whether the last exchange with Kafka succeeded."""
        return self._publisher.connected

    @property
    def ready(self) -> bool:
        """
        Whether new webhooks can be stored: not closing, and the spool (which every
        event passes through first) is writable with room for a large webhook.
        """
        return not self.closing and self.spool.healthy and self.spool.has_room(_READY_ROOM)

    # ------------------------------------------------------------------ accepting

    async def accept(self, event: Event, topic: str, *, deadline: float) -> Receipt:
        """
        Store `event` durably and report where; `deadline` is a loop time.

        Raises:
            ShuttingDownError, SpoolFullError, SpoolUnavailableError: nothing stored.
            EventTooLargeError: the event cannot become one Kafka record.
            InvalidPayloadError: Kafka refused the record; it was dead-lettered.
        """
        if self.closing:
            raise ShuttingDownError("shutting down")
        if event.event_id in self._dedup:
            self._metrics.dedup_hits.inc()
            return Receipt(event.event_id, "kafka", duplicate=True)
        duplicate = event.event_id in self._inflight
        record = Record(event.key.encode("utf-8"), event.value, event.headers)
        if record.size > self._settings.kafka.max_record_bytes:
            raise EventTooLargeError("event is larger than BRIDGE_KAFKA_MAX_RECORD_BYTES")
        waiter = self.relay.waiter(event.event_id)
        if duplicate:
            self._metrics.dedup_hits.inc()
        else:
            # A repeat arriving during this fsync is stored once more (same ce_id): only
            # ids already on disk may be answered from another request's write.
            try:
                spooled = await self.spool.append(event.event_id, topic, record)
            except BaseException:
                self.relay.release(event.event_id)
                raise
            if not waiter.done():  # not delivered while the fsync completed
                self._inflight[event.event_id] = spooled.seq
        loop = asyncio.get_running_loop()
        await asyncio.wait({waiter}, timeout=max(0.0, deadline - loop.time()))
        if waiter.done() and not waiter.cancelled():
            error = waiter.exception()
            if error is not None:
                raise error
            return Receipt(event.event_id, "kafka", duplicate, waiter.result())
        self.relay.release(event.event_id)
        return Receipt(event.event_id, "spool", duplicate)

    async def dead_letter(self, event: Event) -> None:
        """
        Store a dead-letter event durably (published to the DLQ topic by the relay).

        Raises:
            ShuttingDownError, SpoolFullError, SpoolUnavailableError: not stored.
        """
        if self.closing:
            raise ShuttingDownError("shutting down")
        record = Record(event.key.encode("utf-8"), event.value, event.headers)
        await self.spool.append(event.event_id, self._settings.dlq_topic, record)

    # ------------------------------------------------------------------ relay hooks

    def _delivered(
        self, records: Sequence[SpooledRecord], deliveries: Sequence[Delivery], now: float
    ) -> None:
        for record in records:
            self._inflight.pop(record.event_id, None)
            if record.topic != self._settings.dlq_topic:
                self._dedup.add(record.event_id, now)
            self._metrics.publish_latency.observe(max(0.0, now - record.accepted_at))
        if records:
            self._metrics.published.labels(records[0].topic).inc(len(records))

    async def _rejected(
        self, record: SpooledRecord, error: InvalidPayloadError
    ) -> SpooledRecord | None:
        """Replace a record Kafka refuses for good with its dead letter (never just drop it)."""
        self._inflight.pop(record.event_id, None)
        received_at = datetime.fromtimestamp(record.accepted_at, UTC)
        if record.topic != self._settings.dlq_topic:
            dead = build_dead_letter(
                record.record.value,
                reason=error.code,
                detail="kafka refused the normalized event; body is the event value",
                project=None,
                received_at=received_at,
                request={},
            )
        elif dict(record.record.headers).get("kyc_dlq_reason") != _UNWRITABLE.encode():
            # Even the dead letter is too large for the topic: keep its id and reason only.
            dead = build_dead_letter(
                b"",
                reason=_UNWRITABLE,
                detail=f"dead letter {record.event_id} was refused by kafka ({error.code})",
                project=None,
                received_at=received_at,
                request={},
            )
        else:
            log.error("dlq.dropped_unwritable", event_id=record.event_id, reason=error.code)
            self._metrics.dead_letters.labels(_UNWRITABLE).inc()
            return None
        self._metrics.dead_letters.labels(error.code).inc()
        replacement = Record(dead.key.encode("utf-8"), dead.value, dead.headers)
        return await self.spool.replace(
            record, dead.event_id, self._settings.dlq_topic, replacement
        )

    # ------------------------------------------------------------------ gauges

    async def _watch(self) -> None:
        backlog = False
        while True:
            stats = await self.spool.stats()
            if not backlog and stats.events and not self._publisher.connected:
                backlog = True
                log.warning("spool.backlog", events=stats.events, bytes=stats.bytes)
            elif backlog and not stats.events:
                backlog = False
                log.info("spool.drained")
            now = self._clock()
            m = self._metrics
            m.spool_events.set(stats.events)
            m.spool_bytes.set(stats.bytes)
            m.spool_oldest_age.set(
                now - stats.oldest_accepted_at if stats.oldest_accepted_at else 0
            )
            m.kafka_connected.set(1 if self._publisher.connected else 0)
            m.ready.set(1 if self.ready else 0)
            if not self._publisher.connected and (
                self._connecting is None or self._connecting.done()
            ):
                self._connecting = asyncio.create_task(self._publisher.start())
            await asyncio.sleep(1.0)
