"""
`kyc-bridge dlq replay`: run the original bodies of dead letters through the
current decoding, keys and normalization, and publish what now succeeds,
through the delivery core (a spool of its own, the relay, the project's
personal-data protection and the current state), like a webhook.

Replay remembers what it did. It reads the DLQ topic as the consumer group
`<BRIDGE_KAFKA_CLIENT_ID>.dlq-replay` (or `--group`), from the group's
committed offsets (`--from-beginning`: from the start) up to the end the topic
had when the run started, and commits a record's offset only once it is done:
its event acknowledged by Kafka, or the record counted as failed or passed over
by `--reason` / `--since`. Two runs in a row therefore publish each recoverable
dead letter once. `--dry-run` publishes and commits nothing.

A replayed event keeps its deterministic event id (project + payload), so
consumers that deduplicate on `ce_id` are safe when one is replayed again.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.structs import TopicPartition

from bridge.commands.progress import Progress, progress_for
from bridge.config import Settings
from bridge.deadletter import UNWRITABLE
from bridge.decode import draft_from_body
from bridge.delivery.ingest import Ingest
from bridge.errors import BridgeError, InvalidPayloadError, PublishError
from bridge.events import EventFactory
from bridge.metrics import Metrics
from bridge.pii import (
    EventMismatchError,
    KeyEncryptionKey,
    KeyUnavailableError,
    TamperedError,
    open_inline,
)
from bridge.pii.load import load_kek
from bridge.publish import Publisher
from bridge.publish.kafka import KafkaPublisher, client_options, translate_kafka_errors
from bridge.schemas import load_registry
from bridge.types import JSONObject

__all__ = [
    "REASONS",
    "DeadLetter",
    "Failure",
    "ReplayError",
    "ReplayOptions",
    "ReplaySummary",
    "default_group",
    "parse_since",
    "replay_dlq",
    "settle",
]

_GROUP_SUFFIX = ".dlq-replay"
_LISTED_FAILURES = 100
_BATCH = 500
_ACK_TIMEOUT_S = 60.0
_METADATA_TIMEOUT_S = 30.0
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _codes(error: type[InvalidPayloadError]) -> set[str]:
    return {error.code}.union(*(_codes(sub) for sub in error.__subclasses__()))


REASONS: frozenset[str] = frozenset({*_codes(InvalidPayloadError), UNWRITABLE})
"""Every reason code a dead letter can carry (`--reason` accepts only these)."""


class ReplayError(BridgeError):
    """The replay cannot run: the DLQ topic is missing, or reading it stalled."""

    code = "replay_failed"


def default_group(settings: Settings) -> str:
    """Return the replay's consumer group: `<BRIDGE_KAFKA_CLIENT_ID>.dlq-replay`."""
    return settings.kafka.client_id + _GROUP_SUFFIX


def parse_since(text: str) -> datetime:
    """
    Parse a `--since` time: RFC 3339 with an offset (`2026-11-25T09:30:00Z`) or a
    date (`2026-11-25`, midnight UTC).

    Raises:
        ValueError: neither form, or a time without an offset.
    """
    text = text.strip()
    if _DATE.fullmatch(text):
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (add Z or +HH:MM)")
    return moment


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """What replay needs of a `kyc.dead_letter` record."""

    dead_letter_id: str
    reason: str
    project: str | None
    received_at: datetime
    body: bytes = field(repr=False)
    #: a plain body of a protected project, sealed under the KEK (`body` is then empty)
    sealed: Mapping[str, object] | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, value: bytes) -> DeadLetter:
        """
        Read a dead-letter record's value.

        Raises:
            ValueError: not a readable dead-letter envelope.
        """
        try:
            envelope = orjson.loads(value)
            data = envelope["data"]
            received = datetime.fromisoformat(str(envelope["received_at"]))
            project = envelope.get("source", {}).get("project")
            sealed = data.get("body_sealed")
            sealed = sealed if isinstance(sealed, dict) else None
            return cls(
                dead_letter_id=str(envelope["event_id"]),
                reason=str(data["reason"]),
                project=project if isinstance(project, str) else None,
                received_at=received if received.tzinfo else received.replace(tzinfo=UTC),
                body=b"" if sealed else base64.b64decode(data["body_b64"], validate=True),
                sealed=sealed,
            )
        except (KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise ValueError("not a readable dead letter") from exc


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """What to replay, and whether to change anything."""

    group: str
    from_beginning: bool = False
    reasons: frozenset[str] = frozenset()
    since: datetime | None = None
    limit: int | None = None
    dry_run: bool = False

    def selects(self, letter: DeadLetter) -> bool:
        """Whether `letter` passes `--reason` and `--since`."""
        if self.reasons and letter.reason not in self.reasons:
            return False
        return self.since is None or letter.received_at >= self.since


@dataclass(frozen=True, slots=True)
class Failure:
    """A dead letter that could not be replayed, and why (a stable error code)."""

    partition: int
    offset: int
    dead_letter_id: str | None
    code: str


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    """What a replay did; `replayed` counts what a dry run would have published."""

    group: str
    dry_run: bool
    read: int
    replayed: int
    skipped: int
    failed: Mapping[str, int]
    failures: tuple[Failure, ...]
    remaining: int

    def as_dict(self) -> JSONObject:
        """The summary as JSON: counts, failures by code and the first failed records."""
        return {
            "group": self.group,
            "dry_run": self.dry_run,
            "read": self.read,
            "replayed": self.replayed,
            "skipped": self.skipped,
            "failed": dict(self.failed),
            "failures": [
                {
                    "partition": f.partition,
                    "offset": f.offset,
                    "dead_letter_id": f.dead_letter_id,
                    "code": f.code,
                }
                for f in self.failures
            ],
            "remaining": self.remaining,
        }


class _Replayer:
    """Decode, normalize and accept one dead letter's body with the current settings."""

    def __init__(
        self,
        settings: Settings,
        ingest: Ingest | None,
        factory: EventFactory,
        *,
        kek: KeyEncryptionKey | None = None,
        ack_timeout_s: float = _ACK_TIMEOUT_S,
    ) -> None:
        self._settings = settings
        self._kek = kek  # opens sealed bodies
        self._projects = {p.name: p for p in settings.projects}
        self._factory = factory
        self._ingest = ingest  # None: dry run
        self._ack_timeout_s = ack_timeout_s

    @property
    def ingest(self) -> Ingest | None:
        """What accepts the replayed events (None in a dry run)."""
        return self._ingest

    async def replay(self, letter: DeadLetter) -> str | None:
        """
        Return None when the event was published (dry run: could be), else the
        failure's code.

        Raises:
            PublishError: Kafka did not acknowledge within the timeout.
            KekUnavailableError: a sealed body's KEK service did not answer.
        """
        body = letter.body
        if letter.sealed is not None:
            if self._kek is None:
                return "body_sealed_no_kek"
            try:
                body = await open_inline(letter.sealed, self._kek, event_id=letter.dead_letter_id)
            except (TamperedError, EventMismatchError, KeyUnavailableError):
                return "body_unsealable"
        if not body:
            return "body_not_kept"
        project = self._projects.get(letter.project or "")
        if project is None:
            return "unknown_project"
        try:
            draft, _ = draft_from_body(
                body, project=project, factory=self._factory, received_at=letter.received_at
            )
            if self._ingest is None:
                self._factory.finish(draft)  # validates, publishes nothing
                return None
            deadline = asyncio.get_running_loop().time() + self._ack_timeout_s
            receipt = await self._ingest.accept(
                draft, self._settings.topic_for(project), deadline=deadline
            )
        except InvalidPayloadError as exc:
            return exc.code
        if receipt.stored != "kafka":
            raise PublishError("kafka did not acknowledge the replayed event in time")
        return None


@dataclass(frozen=True, slots=True)
class _Range:
    start: int
    end: int


class _Replay:
    """One run over the DLQ topic's partitions; see the module docstring."""

    def __init__(
        self, consumer: AIOKafkaConsumer, replayer: _Replayer, options: ReplayOptions
    ) -> None:
        self._consumer = consumer
        self._replayer = replayer
        self._options = options
        self._ranges: dict[TopicPartition, _Range] = {}
        self._next: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._read = self._replayed = self._skipped = self._matched = 0
        self._failed: Counter[str] = Counter()
        self._failures: list[Failure] = []

    @property
    def total(self) -> int:
        """Dead letters in the range this run reads."""
        return sum(r.end - r.start for r in self._ranges.values())

    async def plan(self) -> None:
        """
        Find where to start (committed offset, or the beginning) and stop (the
        current end) in every assigned partition.

        Raises:
            PublishError: Kafka is unreachable.
        """
        consumer = self._consumer
        with translate_kafka_errors():
            tps = sorted(consumer.assignment())
            firsts = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                committed = None if self._options.from_beginning else await consumer.committed(tp)
                start = firsts[tp] if committed is None else max(committed, firsts[tp])
                self._ranges[tp] = _Range(min(start, ends[tp]), ends[tp])
                consumer.seek(tp, self._ranges[tp].start)

    async def run(self, progress: Progress, *, stall_s: float) -> None:
        """
        Replay the planned range, committing after every batch (not in a dry run).

        Raises:
            PublishError: Kafka is unreachable (what was acknowledged is committed).
            ReplayError: no record arrived for `stall_s` seconds.
        """
        try:
            await self._consume(progress, stall_s)
        except BaseException:
            with contextlib.suppress(BridgeError):
                await self._commit()
            raise
        await self._commit()

    def _done(self) -> bool:
        limit = self._options.limit
        return limit is not None and self._matched >= limit

    async def _consume(self, progress: Progress, stall_s: float) -> None:
        active = {tp for tp, r in self._ranges.items() if r.start < r.end}
        heard = time.monotonic()
        while active and not self._done():
            with translate_kafka_errors():
                batch = await self._consumer.getmany(*active, timeout_ms=1000, max_records=_BATCH)
            for tp, records in batch.items():
                heard = time.monotonic()
                for record in records:
                    if record.offset >= self._ranges[tp].end or self._done():
                        break
                    await self._handle(tp, record)
                    progress.advance(1, self._status())
            for tp in sorted(active):
                position = self._next.get(tp, self._ranges[tp].start)
                if position < self._ranges[tp].end and tp not in batch:
                    with translate_kafka_errors():  # past a gap (e.g. control records)?
                        position = await self._consumer.position(tp)
                if position >= self._ranges[tp].end:
                    active.discard(tp)
            await self._commit()
            if active and time.monotonic() - heard > stall_s:
                raise ReplayError(f"no dead letter arrived for {stall_s:.0f} s; is Kafka up?")

    async def _handle(self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        self._read += 1
        letter: DeadLetter | None = None
        try:
            letter = DeadLetter.parse(record.value or b"")
        except ValueError:
            code: str | None = "unreadable_dead_letter"
        else:
            if not self._options.selects(letter):
                self._skipped += 1
                self._next[tp] = record.offset + 1
                return
            self._matched += 1
            code = await self._replayer.replay(letter)
        if code is None:
            self._replayed += 1
        else:
            self._failed[code] += 1
            if len(self._failures) < _LISTED_FAILURES:
                letter_id = letter.dead_letter_id if letter else None
                self._failures.append(Failure(tp.partition, record.offset, letter_id, code))
        self._next[tp] = record.offset + 1

    def _status(self) -> str:
        failed = sum(self._failed.values())
        return f"replayed={self._replayed} failed={failed} skipped={self._skipped}"

    async def _commit(self) -> None:
        if self._options.dry_run:
            return
        offsets = {tp: n for tp, n in self._next.items() if self._committed.get(tp) != n}
        if offsets:
            with translate_kafka_errors():
                await self._consumer.commit(offsets)
            self._committed.update(offsets)

    def summary(self) -> ReplaySummary:
        """What this run did so far."""
        remaining = sum(r.end - self._next.get(tp, r.start) for tp, r in self._ranges.items())
        return ReplaySummary(
            group=self._options.group,
            dry_run=self._options.dry_run,
            read=self._read,
            replayed=self._replayed,
            skipped=self._skipped,
            failed=dict(self._failed),
            failures=tuple(self._failures),
            remaining=max(0, remaining),
        )


async def replay_dlq(
    settings: Settings,
    options: ReplayOptions,
    *,
    publisher: Publisher | None = None,
    progress_stream: TextIO = sys.stderr,
) -> ReplaySummary:
    """
    Replay the DLQ topic as described in the module docstring; progress goes to
    `progress_stream` (a bar on a terminal, otherwise periodic lines).

    Raises:
        PublishError: Kafka is unreachable (what was acknowledged stays committed), or
            the state records of replayed events were not acknowledged in time.
        ReplayError: the DLQ topic does not exist, reading it stalled, or the state
            topic could not be read (staleness is judged against it).
    """
    publisher = publisher if publisher is not None else KafkaPublisher(settings.kafka)
    factory = EventFactory(load_registry())
    partitions = await _partitions(settings, settings.dlq_topic)
    consumer = AIOKafkaConsumer(
        group_id=options.group,  # offsets only: partitions are assigned, no group membership
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **client_options(settings.kafka),
    )
    consumer.assign(partitions)  # before start: assigning twice upsets aiokafka's coordinator
    scratch = tempfile.TemporaryDirectory(prefix="kyc-bridge-replay-")
    kek = load_kek(settings.pii)
    ingest = None
    if not options.dry_run:  # its own spool: the bridge's is owned by the bridge
        spool = dataclasses.replace(settings.spool, directory=Path(scratch.name))
        ingest = Ingest(
            dataclasses.replace(settings, spool=spool),
            publisher,
            Metrics(),
            factory=factory,
            kek=kek,
        )
    replay = _Replay(consumer, _Replayer(settings, ingest, factory, kek=kek), options)
    try:
        with translate_kafka_errors():
            await consumer.start()
        if ingest is not None:
            await ingest.start()
            if not await ingest.state_synced():
                raise ReplayError(
                    "the state topic could not be read to its end within 60 s; nothing was "
                    "replayed (stale events would not be recognised)"
                )
        await replay.plan()
        progress = progress_for(progress_stream, replay.total, label="dlq replay", unit="records")
        try:
            await replay.run(progress, stall_s=max(30.0, settings.kafka.request_timeout_ms / 500))
        finally:
            progress.close()
        if ingest is not None:
            await settle(ingest)
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        if ingest is not None:
            ingest.gate.close(10.0)
            await ingest.stop()
        else:
            await publisher.stop()
        scratch.cleanup()
    return replay.summary()


async def settle(ingest: Ingest, timeout_s: float = _ACK_TIMEOUT_S) -> None:
    """
    Wait until the scratch spool is empty: the state records that follow the replayed
    events are appended only once those are acknowledged, and would go with the spool.

    Raises:
        PublishError: records were still unacknowledged after `timeout_s`.
    """
    if not await ingest.drained(timeout_s):
        raise PublishError(
            f"{ingest.spool.events} state records of replayed events were not acknowledged "
            f"by Kafka within {timeout_s:.0f} s; the events are published, the state topic "
            "may lag them"
        )


async def _partitions(settings: Settings, topic: str) -> list[TopicPartition]:
    """
    Return every partition of `topic`, asked with a short-lived consumer outside any group.

    Raises:
        ReplayError: the topic does not exist (or is not readable).
        PublishError: Kafka is unreachable.
    """
    probe = AIOKafkaConsumer(group_id=None, **client_options(settings.kafka))
    try:
        with translate_kafka_errors():
            await probe.start()
            if topic not in await probe.topics():  # never a request that could create it
                raise ReplayError(f"BRIDGE_DLQ_TOPIC: no topic {topic!r} (or it is not readable)")
            probe.assign([TopicPartition(topic, 0)])  # makes the client fetch its metadata
            async with asyncio.timeout(_METADATA_TIMEOUT_S):
                while not (partitions := probe.partitions_for_topic(topic)):
                    await asyncio.sleep(0.05)
    finally:
        with contextlib.suppress(Exception):
            await probe.stop()
    return [TopicPartition(topic, p) for p in sorted(partitions)]
