"""
Accepting events: the delivery contract in one place.

`accept` answers only when the event is durable: fsynced to the spool, and
then either acknowledged by Kafka within the publish deadline ("kafka") or
left for the relay ("spool"). While Kafka is known to be unreachable there
is no wait: the answer is "spool" as soon as the fsync completes. Anything
else raises, so no 2xx is ever given for an event that is not stored.

`Ingest` owns the spool, the relay, the dead letters and the background
tasks (relay, gauges, Kafka probe), and closes them in one fixed order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import structlog

from bridge.config import Settings
from bridge.deadletter import Origin
from bridge.delivery.deadletters import DeadLetters
from bridge.delivery.gate import Gate
from bridge.delivery.relay import Relay
from bridge.delivery.spool import Entry, Spool, SpooledRecord
from bridge.errors import EventTooLargeError, InvalidPayloadError
from bridge.events import Event
from bridge.metrics import Metrics
from bridge.publish import Delivery, Publisher
from bridge.supervisor import Supervisor

__all__ = ["Ingest", "Receipt"]

log = structlog.get_logger("bridge.ingest")

_READY_ROOM = 16 * 1024  # /readyz wants room for at least one large webhook
_GAUGE_INTERVAL_S = 1.0
_PROBE_INTERVAL_S = 3.0  # with the probe's own timeout, Kafka's state is true within 10 s


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a 2xx promises: where the event is stored."""

    event_id: str
    stored: Literal["kafka", "spool"]
    duplicate: bool = False
    delivery: Delivery | None = None


class Ingest:
    """Owns spool, relay, dead letters and background tasks; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        publisher: Publisher,
        metrics: Metrics,
        *,
        gate: Gate | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._publisher = publisher
        self._metrics = metrics
        self._clock = clock
        self.gate = gate or Gate(settings.http.max_concurrency)
        self.supervisor = Supervisor(metrics.task_restarts)
        self.spool = Spool(settings.spool, clock=clock)
        self.dead_letters = DeadLetters(self.spool, settings.dlq_topic, metrics)
        self.relay = Relay(
            self.spool,
            publisher,
            on_delivered=self._delivered,
            on_rejected=self.dead_letters.replacement,
            on_crash=self.supervisor.crashed,
            clock=clock,
        )
        self._backlog_logged = False
        self._probed = False  # until the first probe, Kafka's state is unknown: wait for it

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the spool and start the relay, the gauges and the Kafka probe."""
        await self.spool.open()
        # Connecting happens in the background (the probe retries): a broker that is
        # down at startup must not keep the bridge from accepting into the spool.
        self.supervisor.spawn("relay", self.relay.run)
        self.supervisor.spawn("gauges", self._gauges)
        self.supervisor.spawn("kafka-probe", self._probe)
        log.info("spool.opened", events=self.spool.events, bytes=self.spool.bytes)

    async def stop(self) -> None:
        """
        Close everything in order, within what is left of the gate's grace period:
        the relay (batches in flight may finish), the background tasks, the producer,
        the spool. Never raises for one of them.
        """
        self.gate.close(self._settings.shutdown_grace_s)
        grace = self.gate.remaining(self._settings.shutdown_grace_s)
        await self.relay.stop(grace * 0.7)
        await self.supervisor.stop()
        try:
            async with asyncio.timeout(max(0.5, self.gate.remaining(grace))):
                await self._publisher.stop()
        except Exception as exc:  # a producer that cannot close must not keep the spool open
            log.warning("kafka.stop_failed", error=type(exc).__name__)
        await self.spool.close()
        log.info("spool.closed", events=self.spool.events, bytes=self.spool.bytes)

    @property
    def publisher_connected(self) -> bool:
        """Whether the last exchange with Kafka (publish or probe) succeeded."""
        return self._publisher.connected

    @property
    def ready(self) -> bool:
        """
        Whether new webhooks can be stored: not closing, and the spool (which every
        event passes through first) is writable with room for a large webhook.
        """
        return not self.gate.closing and self.spool.healthy and self.spool.has_room(_READY_ROOM)

    async def check(self) -> bool:
        """Re-check the spool itself (one transaction), then report readiness."""
        try:
            async with asyncio.timeout(1.0):
                await self.spool.refresh()
        except Exception:  # noqa: S110  (the spool's own health flag records the failure)
            pass
        return self.ready

    # ------------------------------------------------------------------ accepting

    async def accept(
        self, event: Event, topic: str, *, deadline: float, origin: Origin | None = None
    ) -> Receipt:
        """
        Store `event` durably and report where; `deadline` is a loop time. `origin`
        is what its dead letter keeps if Kafka refuses the record for good.

        Raises:
            ShuttingDownError, SpoolFullError, SpoolUnavailableError: nothing stored.
            EventTooLargeError: the event cannot become one Kafka record (dead-lettered).
            InvalidPayloadError: Kafka refused the record (the relay dead-lettered it).
        """
        self.gate.check()
        if event.record.size > self._settings.kafka.max_record_bytes:
            too_large = EventTooLargeError("event is larger than BRIDGE_KAFKA_MAX_RECORD_BYTES")
            if origin is not None:
                await self.dead_letters.store(origin, too_large)
            raise too_large
        waiter = self.relay.waiter(event.event_id)
        entry = Entry(
            event.event_id, topic, event.record, origin=origin.encode() if origin else None
        )
        try:
            (appended,) = await self.spool.append([entry])
        except BaseException:
            self.relay.release(event.event_id)
            raise
        if appended.outcome == "delivered":
            self.relay.release(event.event_id)
            self._metrics.dedup_hits.inc()
            return Receipt(event.event_id, "kafka", duplicate=True)
        duplicate = appended.outcome == "pending"
        if duplicate:
            self._metrics.dedup_hits.inc()
        if self._publisher.connected or not self._probed:  # known down: answer at once
            loop = asyncio.get_running_loop()
            await asyncio.wait({waiter}, timeout=max(0.0, deadline - loop.time()))
        if waiter.done() and not waiter.cancelled():
            error = waiter.exception()
            if error is not None:
                raise error
            return Receipt(event.event_id, "kafka", duplicate, waiter.result())
        self.relay.release(event.event_id)
        return Receipt(event.event_id, "spool", duplicate)

    async def reject(self, origin: Origin, error: InvalidPayloadError) -> Event:
        """
        Store the dead letter of a request that could not become an event.

        Raises:
            ShuttingDownError, SpoolFullError, SpoolUnavailableError: not stored.
        """
        self.gate.check()
        return await self.dead_letters.store(origin, error)

    # ------------------------------------------------------------------ relay hook

    def _delivered(
        self, records: Sequence[SpooledRecord], deliveries: Sequence[Delivery], now: float
    ) -> None:
        for record in records:
            self._metrics.publish_latency.observe(max(0.0, now - record.accepted_at))
        if records:
            self._metrics.published.labels(records[0].topic).inc(len(records))

    # ------------------------------------------------------------------ background tasks

    async def _probe(self) -> None:
        """Ask the cluster for metadata on an interval: connects, reconnects, notices loss."""
        while True:
            await self._publisher.probe()
            self._probed = True
            await asyncio.sleep(_PROBE_INTERVAL_S)

    async def _gauges(self) -> None:
        while True:
            await self.spool.refresh()
            self._update_gauges()
            await asyncio.sleep(_GAUGE_INTERVAL_S)

    def _update_gauges(self) -> None:
        spool = self.spool
        connected = self._publisher.connected
        if not self._backlog_logged and spool.events and not connected:
            self._backlog_logged = True
            log.warning("spool.backlog", events=spool.events, bytes=spool.bytes)
        elif self._backlog_logged and not spool.events:
            self._backlog_logged = False
            log.info("spool.drained")
        m = self._metrics
        m.spool_events.set(spool.events)
        m.spool_bytes.set(spool.bytes)
        oldest = spool.oldest_accepted_at
        m.spool_oldest_age.set(self._clock() - oldest if oldest else 0)
        m.spool_free_bytes.set(spool.free_bytes)
        m.dedup_entries.set(spool.delivered_entries)
        m.kafka_connected.set(1 if connected else 0)
        m.ready.set(1 if self.ready else 0)
