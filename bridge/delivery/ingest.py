"""
Accepting events: the delivery contract in one place.

`accept` answers only when the event is durable: fsynced to the spool, and
then either acknowledged by Kafka within the publish deadline ("kafka") or
left for the relay ("spool"). While Kafka is known to be unreachable there
is no wait: the answer is "spool" as soon as the fsync completes. Anything
else raises, so no 2xx is ever given for an event that is not stored.

Drafts of one subject are accepted one at a time (a per-subject lock from the
state lookup to the fsync), so staleness, the current state and the subject's
data key are decided against everything accepted before; what a draft becomes
is `plan`'s job.

`Ingest` owns the spool, the relay, the dead letters, the data keys and the
background tasks (relay, gauges, Kafka probe, followers), and closes them in
one fixed order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import structlog

from bridge.config import PiiMode, Settings
from bridge.deadletter import Origin
from bridge.delivery.datakeys import DataKeys, Grant
from bridge.delivery.deadletters import DeadLetters
from bridge.delivery.followers import follow_keys, follow_state
from bridge.delivery.gate import Gate
from bridge.delivery.plan import Erasure, Plan, plan
from bridge.delivery.relay import Relay
from bridge.delivery.spool import Entry, Spool, SpooledRecord
from bridge.delivery.spool.ops import REPLICA_HEADER
from bridge.errors import (
    EventTooLargeError,
    InvalidPayloadError,
    PublishError,
    SpoolUnavailableError,
)
from bridge.events import Draft, Event, EventFactory
from bridge.metrics import Metrics
from bridge.pii import KeyEncryptionKey
from bridge.publish import COMPACTED, Delivery, Publisher, Record, TopicSpec
from bridge.state import CurrentState, order_key
from bridge.supervisor import Supervisor

__all__ = ["Ingest", "Receipt"]

log = structlog.get_logger("bridge.ingest")

_READY_ROOM = 16 * 1024  # /readyz wants room for at least one large webhook
_GAUGE_INTERVAL_S = 1.0
_COUNT_EVERY = 30  # gauge ticks between counts (and size prunes) of the dedup window
_PROBE_INTERVAL_S = 3.0  # with the probe's own timeout, Kafka's state is true within 10 s
_PROBE_SOON_S = 0.2  # the soonest probe after the previous one, when a webhook asks
_ACK_PATIENCE_S = 0.5  # a webhook whose ack takes longer asks for a probe


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a 2xx promises: where the event is stored."""

    event_id: str
    stored: Literal["kafka", "spool"]
    duplicate: bool = False
    delivery: Delivery | None = None


async def _first_done(futures: Sequence[asyncio.Future[Any]], timeout_s: float) -> None:
    """
    Return once one of `futures` is done or `timeout_s` has passed; cancel none.

    `asyncio.wait` does the same with a set, a counter and a task per call: this
    is the webhook's hot path, so it costs half as much.
    """
    if any(f.done() for f in futures):
        return
    loop = asyncio.get_running_loop()
    wake: asyncio.Future[None] = loop.create_future()

    def release(_: object = None) -> None:
        if not wake.done():
            wake.set_result(None)

    timer = loop.call_later(max(0.0, timeout_s), release)
    for future in futures:
        future.add_done_callback(release)
    try:
        await wake
    finally:
        timer.cancel()
        for future in futures:
            future.remove_done_callback(release)


class _Turn:
    """
    `async with`: one webhook of a Kafka key at a time (its plan reads what the
    previous one stored). A class, not an asynccontextmanager: this is per webhook.
    """

    __slots__ = ("_key", "_lock", "_table")

    def __init__(self, table: dict[str, tuple[asyncio.Lock, int]], key: str) -> None:
        self._table, self._key = table, key
        lock, users = table.get(key) or (asyncio.Lock(), 0)
        table[key] = (lock, users + 1)
        self._lock = lock

    def _leave(self) -> None:
        lock, users = self._table[self._key]
        if users <= 1:
            del self._table[self._key]
        else:
            self._table[self._key] = (lock, users - 1)

    async def __aenter__(self) -> None:
        try:
            await self._lock.acquire()
        except BaseException:
            self._leave()
            raise

    async def __aexit__(self, *_: object) -> None:
        self._lock.release()
        self._leave()


class Ingest:
    """Owns spool, relay, dead letters and background tasks; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        publisher: Publisher,
        metrics: Metrics,
        *,
        factory: EventFactory | None = None,
        kek: KeyEncryptionKey | None = None,
        gate: Gate | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._publisher = publisher
        self._metrics = metrics
        self._clock = clock
        self._factory = factory
        self._modes: dict[str, PiiMode] = {p.name: settings.pii_mode(p) for p in settings.projects}
        self.gate = gate or Gate(settings.http.max_concurrency)
        self.supervisor = Supervisor(metrics.task_restarts)
        self.spool = Spool(settings.spool, clock=clock)
        self.keys = DataKeys(self.spool, kek, settings.pii.keys_topic) if kek else None
        self.dead_letters = DeadLetters(
            self.spool,
            settings.dlq_topic,
            metrics,
            mode=lambda project: self._modes.get(project or "", "clear"),
            kek=kek,
        )
        # The compacted topics the bridge creates: untouched until created (or found).
        owned = {settings.state_topic, *([settings.pii.keys_topic] if self.keys else [])}
        self._owned_ready = asyncio.Event()
        self._serial: dict[str, tuple[asyncio.Lock, int]] = {}
        self._state_synced = asyncio.Event()
        #: names this spool's owner in the state records it writes (its follower skips
        #: them); stored in the spool, so a restart keeps it (set by `start`)
        self.replica = b""
        self.relay = Relay(
            self.spool,
            publisher,
            on_delivered=self._delivered,
            on_rejected=self.dead_letters.replacement,
            on_crash=self.supervisor.crashed,
            held=lambda topic: topic in owned and not self._owned_ready.is_set(),
            clock=clock,
        )
        self._backlog_logged = False
        self._probed = False  # until the first probe, Kafka's state is unknown: wait for it
        self._probe_now = asyncio.Event()  # a webhook's ack did not come in time
        #: resolved when a probe finds Kafka unreachable (a fresh one once it is back)
        self._kafka_lost: asyncio.Future[None] | None = None  # created by `start`

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the spool and start the relay, the gauges and the Kafka probe."""
        self._kafka_lost = asyncio.get_running_loop().create_future()
        await self.spool.open()
        self.replica = self.spool.replica
        # Connecting happens in the background (the probe retries): a broker that is
        # down at startup must not keep the bridge from accepting into the spool.
        self.supervisor.spawn("topics", self._ensure_topics)
        self.supervisor.spawn("relay", self.relay.run)
        self.supervisor.spawn("gauges", self._gauges)
        self.supervisor.spawn("kafka-probe", self._probe)
        if self.keys is not None:
            keys = self.keys
            self.supervisor.spawn(
                "keys-follower",
                lambda: self._after_topics(lambda: follow_keys(self._publisher, self.spool, keys)),
            )
        self.supervisor.spawn(
            "state-follower",
            lambda: self._after_topics(
                lambda: follow_state(
                    self._publisher,
                    self.spool,
                    self._settings.state_topic,
                    republish=self._republish_state,
                    on_idle=self._state_synced.set,
                    replica=self.replica,
                )
            ),
        )
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
        return not self.gate.closing and self.spool.writable and self.spool.has_room(_READY_ROOM)

    async def check(self) -> bool:
        """
        Re-check the spool itself (one transaction), then report readiness: not ready
        when that transaction did not finish within a second (a hung volume).
        """
        try:
            async with asyncio.timeout(1.0):
                await self.spool.refresh(count=False)
        except TimeoutError:
            return False
        except Exception:  # noqa: S110  (the spool's own health flag records the failure)
            pass
        return self.ready

    # ------------------------------------------------------------------ accepting

    async def accept(
        self, draft: Draft, topic: str, *, deadline: float, origin: Origin | None = None
    ) -> Receipt:
        """
        Store the event of `draft` durably and report where; `deadline` is a loop time.
        `origin` is what its dead letter keeps if Kafka refuses the record for good.

        Raises:
            ShuttingDownError, SpoolFullError, SpoolUnavailableError: nothing stored.
            EventTooLargeError: the event cannot become one Kafka record (dead-lettered).
            InvalidPayloadError: Kafka refused the record (the relay dead-lettered it).
            KekUnavailableError: the subject needs a new data key and the KEK did not answer.
        """
        self.gate.check()
        async with self._one_at_a_time(draft.key):
            planned, grant = await self._plan(draft, topic, origin)
            event = planned.event
            if event.record.size > self._settings.kafka.max_record_bytes:
                too_large = EventTooLargeError("event is larger than BRIDGE_KAFKA_MAX_RECORD_BYTES")
                if origin is not None:
                    await self.dead_letters.store(origin, too_large)
                raise too_large
            waiter = self.relay.waiter(event.event_id)
            try:
                appended = await self.spool.append(
                    planned.entries, side=planned.side, state=planned.state
                )
            except BaseException:
                self.relay.release(event.event_id)
                raise
            if (
                grant is not None
                and grant.record is not None
                and appended[0].record is not None
                and planned.side.erase is None  # a new key erased at once is not adopted
            ):
                self.keys_adopt(grant, appended[0].record.seq)
            if appended[planned.index].stale:
                self._metrics.stale_events.labels(event.event_type).inc()
        outcome = appended[planned.index].outcome
        if outcome == "delivered":
            self.relay.release(event.event_id)
            self._metrics.dedup_hits.inc()
            return Receipt(event.event_id, "kafka", duplicate=True)
        duplicate = outcome == "pending"
        if duplicate:
            self._metrics.dedup_hits.inc()
        if self._publisher.connected or not self._probed:  # known down: answer at once
            loop = asyncio.get_running_loop()
            await _first_done((waiter,), min(deadline - loop.time(), _ACK_PATIENCE_S))
            if not waiter.done():  # a late ack: find out now whether Kafka is gone
                self._probe_now.set()
                lost = self._kafka_lost
                watched = (waiter,) if lost is None else (waiter, lost)
                await _first_done(watched, deadline - loop.time())
        if waiter.done() and not waiter.cancelled():
            error = waiter.exception()
            if error is not None:
                raise error
            return Receipt(event.event_id, "kafka", duplicate, waiter.result())
        self.relay.release(event.event_id)
        return Receipt(event.event_id, "spool", duplicate)

    def keys_adopt(self, grant: Grant, seq: int) -> None:
        """Remember a new data key once its key record is stored as `seq`."""
        if self.keys is not None:
            self.keys.adopted(grant, seq)

    async def _plan(
        self, draft: Draft, topic: str, origin: Origin | None
    ) -> tuple[Plan, Grant | None]:
        if self._factory is None:
            raise RuntimeError("Ingest needs an EventFactory to accept drafts")
        mode = self._modes.get(draft.project, self._settings.pii.mode)
        grant = None
        if mode == "encrypt":
            if self.keys is None:
                raise RuntimeError("the encrypt mode needs a key-encryption key")
            grant = await self.keys.grant(draft.key)
        erasure = None
        if (
            draft.event_type == "kyc.delete"
            and mode != "clear"
            and self._settings.pii.erase_on_delete
        ):
            granted = grant.dek if grant is not None else None
            tombstones, kids = (
                self.keys.erasure(draft.key, granted=granted) if self.keys else ([], [])
            )
            erasure = Erasure(tuple(tombstones), tuple(kids))
        # the body as received is kept when it holds no clear personal data
        keep_origin = origin is not None and (mode == "clear" or draft.encrypted)
        planned = plan(
            draft,
            factory=self._factory,
            topic=topic,
            mode=mode,
            grant=grant,
            origin=origin.encode() if origin is not None and keep_origin else None,
            state_topic=self._settings.state_topic,
            erasure=erasure,
            now=datetime.fromtimestamp(self._clock(), UTC),
            replica=self.replica,
        )
        return planned, grant

    def _one_at_a_time(self, key: str) -> _Turn:
        return _Turn(self._serial, key)

    def _current(self, subject: str) -> CurrentState | None:
        value = self.spool.side.state(subject)
        return CurrentState.from_json(value) if value is not None else None

    def _republish_state(self, value: bytes) -> Entry:
        """The record that publishes this replica's (newer) state of a submission again."""
        state = CurrentState.from_json(value)
        return Entry(
            f"state:{state.event_id}:{self._clock()}",
            self._settings.state_topic,
            Record(state.subject.encode("utf-8"), value, ((REPLICA_HEADER, self.replica),)),
        )

    async def drained(self, timeout_s: float) -> bool:
        """
        Wait (bounded) until the spool is empty: every record acknowledged, follow-ups
        (state records) included. The one-off commands call it before their scratch
        spool goes.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self.spool.events:
                    await asyncio.sleep(0.05)
        return not self.spool.events

    async def state_synced(self, timeout_s: float = 60.0) -> bool:
        """Wait until the state follower has read the state topic to its end (bounded)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._state_synced.wait()
        return self._state_synced.is_set()

    def is_missing(self, subject: str, status: str | None, status_time: str) -> bool:
        """
        Whether a result that the ARGOS API reports is missing from the current state:
        no state yet, or a state older than it (an equal time is the same result).
        """
        del status  # a newer time is news whatever the status (an edit republishes it)
        current = self._current(subject)
        if current is None or current.status_time is None:
            return True
        return order_key(status_time) > current.status_time

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

    async def _ensure_topics(self) -> None:
        """
        Create the compacted keys and state topics if they are missing (once), then let
        the relay and the followers use them: touching a missing topic before could
        make a broker auto-create it uncompacted, and erasure would never complete.
        """
        specs = [TopicSpec(self._settings.state_topic, configs=dict(COMPACTED))]
        if self.keys is not None:
            specs.append(TopicSpec(self._settings.pii.keys_topic, configs=dict(COMPACTED)))
        while True:
            try:
                await self._publisher.ensure_topics(specs)
            except PublishError as exc:
                if exc.unreachable:
                    await asyncio.sleep(_PROBE_INTERVAL_S)  # no cluster yet: try again
                    continue
            break  # created, present, or refused (logged with the command to run)
        self._owned_ready.set()
        self.relay.wake()

    async def _after_topics(self, follow: Callable[[], Awaitable[None]]) -> None:
        """Run a follower of an owned topic once `_ensure_topics` is done with it."""
        await self._owned_ready.wait()
        await follow()

    async def _probe(self) -> None:
        """
        Ask the cluster for metadata on an interval: connects, reconnects, notices loss.
        A webhook whose ack is late (`_ACK_PATIENCE_S`) asks for a probe at once (at most
        one per `_PROBE_SOON_S`); when it finds Kafka gone, the webhooks still waiting
        get their 202 at once and the next ones do not wait.
        """
        while True:
            reachable = await self._publisher.probe()
            self._probed = True
            self._probe_now.clear()
            lost = self._kafka_lost
            if lost is not None and not reachable and not lost.done():
                lost.set_result(None)  # the webhooks waiting for an ack: answer them now
            elif lost is not None and reachable and lost.done():
                self._kafka_lost = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._probe_now.wait(), _PROBE_INTERVAL_S)
                await asyncio.sleep(_PROBE_SOON_S)

    async def _gauges(self) -> None:
        for tick in itertools.count():
            # a failing spool says so through its health flag; the other gauges stay true
            with contextlib.suppress(SpoolUnavailableError):
                await self.spool.refresh(count=tick % _COUNT_EVERY == 0)
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
