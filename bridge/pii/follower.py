"""
Follow the compacted keys topic and feed every record to a `Decryptor`.

    async with KeysTopicFollower(decryptor, bootstrap_servers="kafka:9092") as keys:
        event = await keys.decrypt_event(record.value)

`start()` reads every partition from the beginning up to the end offsets it saw
at start, then keeps following in a background task. No consumer group: every
partition is assigned, nothing is committed. A key is published before any
event it protects, but this follower may lag behind the events a service reads,
so `decrypt_event` catches up once before it calls a kid erased.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Mapping
from types import TracebackType

import orjson
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from bridge.pii.errors import KeyRecordError
from bridge.pii.reader import ERASED, Decryptor
from bridge.pii.sealed import sealed_kid
from bridge.publish.backoff import throttle_metadata
from bridge.types import JSONObject

__all__ = ["DEFAULT_KEYS_TOPIC", "KeysTopicFollower"]

DEFAULT_KEYS_TOPIC = "kyc.pii-keys.v1"
_MISSING_REMEMBERED = 10_000
log = structlog.get_logger("bridge.pii")


class KeysTopicFollower:
    """Keep a `Decryptor` up to date with a keys topic."""

    def __init__(
        self,
        decryptor: Decryptor,
        *,
        bootstrap_servers: str,
        topic: str = DEFAULT_KEYS_TOPIC,
        consumer_options: Mapping[str, object] | None = None,
        poll_timeout_ms: int = 500,
    ) -> None:
        """`consumer_options` go to AIOKafkaConsumer as is (TLS, SASL, client id, ...)."""
        self.decryptor = decryptor
        self.topic = topic
        self.skipped = 0  #: malformed key records ignored so far
        self._options = {
            "bootstrap_servers": bootstrap_servers,
            "group_id": None,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            **(consumer_options or {}),
        }
        self._poll_ms = poll_timeout_ms
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Condition()
        self._missing: OrderedDict[str, None] = OrderedDict()  # kids still unknown after a catch-up

    async def start(self, *, timeout: float = 60.0) -> None:  # noqa: ASYNC109 - one deadline for the whole catch-up
        """
        Connect, read the topic to its current end, then follow it in the background.

        Raises:
            TimeoutError: the topic did not appear, or was not read to its end, in time.
            RuntimeError: already started.
        """
        if self._consumer is not None:
            raise RuntimeError("KeysTopicFollower already started")
        self._consumer = consumer = AIOKafkaConsumer(**self._options)
        throttle_metadata(consumer._client)
        try:
            await consumer.start()
            async with asyncio.timeout(timeout):
                partitions = await self._partitions(consumer)
                await consumer.seek_to_beginning(*partitions)
                self._positions = {tp: await consumer.position(tp) for tp in partitions}
                self._task = asyncio.create_task(self._follow(consumer), name="pii-keys")
                await self.catch_up()
        except BaseException:
            await self.stop()
            raise
        log.info("pii.keys_topic_loaded", topic=self.topic, keys=len(self.decryptor))

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        # Look the topic up in the all-topics metadata first: subscribing to a missing
        # topic could make a broker with auto.create.topics.enable create it uncompacted.
        while self.topic not in await consumer.topics():
            await asyncio.sleep(0.2)
        consumer.subscribe([self.topic])  # no group: every partition is assigned
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        return sorted(consumer.assignment())

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=self._poll_ms)
            for records in batch.values():
                for record in records:
                    try:
                        self.decryptor.add_key_record(record.key, record.value)
                    except KeyRecordError as exc:
                        self.skipped += 1
                        log.warning(
                            "pii.key_record_skipped",
                            partition=record.partition,
                            offset=record.offset,
                            error=exc.code,
                        )
            positions = {tp: await consumer.position(tp) for tp in self._positions}
            async with self._progress:
                self._positions = positions
                self._progress.notify_all()

    async def catch_up(self) -> None:
        """
        Wait until every key record published before this call has been applied.

        Unbounded while the broker is unreachable: wrap it in `asyncio.timeout` to bound it.

        Raises:
            RuntimeError: not started, or the background task died (its error chained).
        """
        consumer, task = self._consumer, self._task
        if consumer is None or task is None:
            raise RuntimeError("KeysTopicFollower is not started")
        ends = await consumer.end_offsets(list(self._positions))
        async with self._progress:
            while not all(self._positions[tp] >= end for tp, end in ends.items()):
                if task.done():
                    cause = None if task.cancelled() else task.exception()
                    raise RuntimeError("keys topic follower stopped") from cause
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._progress.wait(), self._poll_ms / 1000 * 2)

    async def decrypt_event(self, value: bytes) -> JSONObject:
        """
        Decrypt like `Decryptor.decrypt_event`, catching up once before saying erased.

        Raises:
            Everything `Decryptor.decrypt_event` raises.
        """
        event = await self.decryptor.decrypt_event(value)
        if event.get("pii") != ERASED:
            return event
        kid = sealed_kid(str(orjson.loads(value).get("protected")))
        if kid in self._missing:
            return event
        await self.catch_up()
        if kid not in self.decryptor:
            self._missing[kid] = None
            if len(self._missing) > _MISSING_REMEMBERED:
                self._missing.popitem(last=False)
            return event
        return await self.decryptor.decrypt_event(value)

    async def stop(self) -> None:
        """Stop following and close the consumer; safe to call twice."""
        task, consumer = self._task, self._consumer
        self._task = self._consumer = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if consumer is not None:
            await consumer.stop()

    async def __aenter__(self) -> KeysTopicFollower:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
