"""
`KafkaTopicReader`: reads one topic from stored positions, without a consumer
group (every partition, nothing committed to Kafka: the caller keeps the
positions). aiokafka errors are translated at the same seam as the producer's.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bridge.config import KafkaSettings
from bridge.publish.backoff import throttle_metadata
from bridge.publish.base import ReadRecord
from bridge.publish.kafka import client_options, translate_kafka_errors

__all__ = ["KafkaTopicReader"]


class KafkaTopicReader:
    """A `TopicReader` on aiokafka; see the module docstring."""

    def __init__(self, settings: KafkaSettings, topic: str) -> None:
        self._settings = settings
        self._topic = topic
        self._consumer: AIOKafkaConsumer | None = None
        self._positions: dict[int, int] = {}
        self._assigned: frozenset[int] = frozenset()

    async def start(self, positions: dict[int, int]) -> None:
        """Begin at `positions` (a topic that does not exist yet is picked up later)."""
        self._positions = dict(positions)

    async def _ensure(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                metadata_max_age_ms=10_000,
                # Followers are not on a webhook's path: let the broker gather up to
                # 64 KiB or 100 ms per fetch instead of answering every few records.
                fetch_min_bytes=64 * 1024,
                fetch_max_wait_ms=100,
                **client_options(self._settings),
            )
            throttle_metadata(consumer._client)
            try:
                await consumer.start()
            except BaseException:
                with contextlib.suppress(Exception):  # close what it opened before failing
                    await consumer.stop()
                raise
            self._consumer = consumer
        return self._consumer

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        partitions = consumer.partitions_for_topic(self._topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            consumer._client.add_topic(self._topic)
            partitions = consumer.partitions_for_topic(self._topic)
        if not partitions or frozenset(partitions) == self._assigned:
            return
        for tp in consumer.assignment():  # remember where the current assignment is
            self._positions[tp.partition] = await consumer.position(tp)
        wanted = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        consumer.assign(wanted)
        for tp in wanted:
            if tp.partition in self._positions:
                consumer.seek(tp, self._positions[tp.partition])
            else:
                await consumer.seek_to_beginning(tp)
        self._assigned = frozenset(partitions)

    async def read(self, timeout_s: float) -> list[ReadRecord]:
        with translate_kafka_errors():
            consumer = await self._ensure()
            await self._assign(consumer)
            if not self._assigned:  # no such topic (yet): look again later
                await asyncio.sleep(timeout_s)
                return []
            batch = await consumer.getmany(timeout_ms=int(timeout_s * 1000))
        found = [
            ReadRecord(r.partition, r.offset, r.key, r.value, tuple(r.headers))
            for records in batch.values()
            for r in records
        ]
        for record in found:
            self._positions[record.partition] = record.offset + 1
        return found

    async def caught_up(self) -> bool:
        with translate_kafka_errors():
            consumer = await self._ensure()
            await self._assign(consumer)
            if not self._assigned:
                return False
            wanted = [TopicPartition(self._topic, p) for p in sorted(self._assigned)]
            ends = await consumer.end_offsets(wanted)
            for tp in wanted:  # the position moves only with records handed out by `read`
                if await consumer.position(tp) < ends[tp]:
                    return False
        return True

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        self._assigned = frozenset()
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()
