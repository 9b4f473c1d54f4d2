"""
The `Publisher` port. Adapters: `KafkaPublisher` (aiokafka) and
`MemoryPublisher` (tests, demos). One contract suite runs against both.

Contract:
- `publish(topic, partition, records)` appends the records to that partition
  atomically and in order, and returns one `Delivery` per record of a
  non-empty prefix of `records` (all of them when they fit into one producer
  batch of `max_batch_bytes`; the caller sends the rest next);
- a record key always maps to the same partition (`partition_for`);
- failures are `bridge.errors.PublishError` (transient: retry the same batch)
  or `bridge.errors.InvalidPayloadError` subclasses (the records can never be
  written, e.g. too large); no library exception escapes an adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["COMPACTED", "Delivery", "Publisher", "ReadRecord", "Record", "TopicReader", "TopicSpec"]

#: Topic configs of the compacted topics the bridge owns (data keys, current state):
#: a tombstoned data key is gone from every copy within a day (`max.compaction.lag.ms`),
#: which bounds how long an erased subject stays readable to someone holding the KEK
#: and an old copy of the topic.
COMPACTED = {
    "cleanup.policy": "compact",
    "max.compaction.lag.ms": str(24 * 3600 * 1000),
    "min.cleanable.dirty.ratio": "0.1",
    "delete.retention.ms": str(24 * 3600 * 1000),
}


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic the bridge creates if it is missing."""

    name: str
    partitions: int = 3
    configs: dict[str, str] = field(default_factory=dict)

    def command(self) -> str:
        """The create command an operator runs when the bridge may not create it."""
        configs = " ".join(f"--config {k}={v}" for k, v in sorted(self.configs.items()))
        return (
            f"kafka-topics.sh --create --topic {self.name} --partitions {self.partitions} "
            f"--replication-factor 3 {configs}"
        ).strip()


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record as the bridge writes it; a None value is a compaction tombstone."""

    key: bytes
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    #: approximate wire size used for caps and batching (computed once)
    size: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        size = len(self.key) + len(self.value or b"")
        size += sum(len(k) + len(v) for k, v in self.headers)
        object.__setattr__(self, "size", size)


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where Kafka stored a record."""

    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class ReadRecord:
    """A record read back from a topic (a None value is a tombstone)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


class TopicReader(Protocol):
    """Reads one topic from given positions on (the followers of compacted topics)."""

    async def start(self, positions: dict[int, int]) -> None:
        """Begin at `positions` (partition -> next offset); other partitions from the start."""

    async def read(self, timeout_s: float) -> list[ReadRecord]:
        """
        Return the next records (possibly none within `timeout_s`), in offset order per
        partition. Raises PublishError when the cluster cannot be read.
        """

    async def caught_up(self) -> bool:
        """
        Whether every partition of the topic has been read up to its end as of now
        (False while the topic is not known). Raises PublishError like `read`.
        """

    async def stop(self) -> None:
        """Stop reading (never raises)."""


class Publisher(Protocol):
    """Writes record batches to partitions; see the module docstring."""

    async def start(self) -> None:
        """Connect; may return before the cluster is reachable."""

    async def stop(self) -> None:
        """Flush what is in flight (best effort) and disconnect."""

    async def probe(self) -> bool:
        """Ask the cluster for metadata now (connecting if needed); return `connected`."""

    async def partition_for(self, topic: str, key: bytes, *, wait_s: float = 0.0) -> int:
        """
        Return the partition for `key` from the topic's metadata, waiting at most
        `wait_s` seconds for metadata not known yet (raises PublishError without it).
        """

    async def publish(
        self, topic: str, partition: int, records: Sequence[Record]
    ) -> list[Delivery]:
        """Append a prefix of `records` to one partition, in order; wait for the ack."""

    @property
    def max_batch_bytes(self) -> int:
        """How many bytes of records one `publish` call can carry."""

    def reader(self, topic: str) -> TopicReader:
        """A reader of `topic` on the same cluster (for followers)."""

    async def ensure_topics(self, specs: Sequence[TopicSpec]) -> list[str]:
        """
        Create the missing topics of `specs`; return the names created. Raises
        PublishError when the cluster is unreachable (`unreachable`) or refuses.
        """

    @property
    def connected(self) -> bool:
        """Whether the last interaction with the cluster (publish or probe) succeeded."""
