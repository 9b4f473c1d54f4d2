"""
The aiokafka `Publisher`: idempotent producer, acks=all, one explicit batch
per call so the caller controls per-partition order. aiokafka errors are
translated to the bridge's error tree here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    IllegalStateError,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NodeNotReadyError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    RecordListTooLargeError,
    RequestTimedOutError,
)
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import murmur2

from bridge.config import KafkaSettings
from bridge.errors import BridgeError, ConfigError, EventTooLargeError, PublishError
from bridge.publish.backoff import throttle_metadata
from bridge.publish.base import Delivery, Record, TopicReader, TopicSpec

__all__ = [
    "KafkaPublisher",
    "batch_bytes",
    "client_options",
    "producer_options",
    "translate_kafka_errors",
]

log = structlog.get_logger("bridge.kafka")

_HASHES_KEPT = 65536


def _pick(ordered: list[int], hashed: int) -> int:
    """The Java client's default partitioner for a keyed record: hash mod partition count."""
    return ordered[hashed % len(ordered)]


_CONNECT_TIMEOUT_S = 10.0
_PROBE_TIMEOUT_S = 5.0
_UNREACHABLE = (KafkaConnectionError, NodeNotReadyError, KafkaTimeoutError, RequestTimedOutError)
# The producer's idempotence state is broken: only a new producer (new id) can go on.
_PRODUCER_BROKEN = (
    OutOfOrderSequenceNumber,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    ProducerFenced,
    IllegalStateError,
)


@contextlib.contextmanager
def translate_kafka_errors() -> Iterator[None]:
    """
    Map every exception of the Kafka client onto the bridge's error tree: too large
    records are permanent, everything else is a transient `PublishError` (fatal when
    the producer is unusable, or when the error is not one the client documents).
    """
    try:
        yield
    except (MessageSizeTooLargeError, RecordListTooLargeError):
        raise EventTooLargeError("record is larger than the broker accepts") from None
    except _UNREACHABLE as exc:
        raise PublishError(f"kafka unreachable: {type(exc).__name__}", unreachable=True) from None
    except _PRODUCER_BROKEN as exc:
        raise PublishError(f"kafka producer broken: {type(exc).__name__}", fatal=True) from None
    except KafkaError as exc:  # e.g. a denied topic: retried, the producer stays
        raise PublishError(f"kafka error: {type(exc).__name__}") from None
    except (TimeoutError, OSError) as exc:  # ssl.SSLError included
        raise PublishError(f"kafka unreachable: {type(exc).__name__}", unreachable=True) from None
    except BridgeError:
        raise
    except Exception as exc:  # the one seam: nothing else leaves the adapter
        raise PublishError(f"kafka client failed: {type(exc).__name__}", fatal=True) from None


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Return the connection and security keyword arguments shared by aiokafka clients."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "request_timeout_ms": settings.request_timeout_ms,
        "retry_backoff_ms": 100,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = (
            settings.sasl_password.value if settings.sasl_password else None
        )
    if settings.security_protocol.endswith("SSL"):
        context = create_ssl_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None,
            certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
            keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
            password=settings.ssl_key_password.value if settings.ssl_key_password else None,
        )
        context.check_hostname = settings.ssl_check_hostname
        options["ssl_context"] = context
    return options


def batch_bytes(settings: KafkaSettings) -> int:
    """The producer's batch size: room for one record of the maximum size."""
    return max(16384, settings.max_record_bytes + 4096)


def producer_options(settings: KafkaSettings) -> dict[str, Any]:
    """Return the AIOKafkaProducer keyword arguments: acks=all, idempotent, sized batches."""
    return {
        **client_options(settings),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": settings.linger_ms,
        "max_batch_size": batch_bytes(settings),
        "max_request_size": settings.max_record_bytes + 65536,
    }


class KafkaPublisher:
    """`Publisher` on aiokafka; (re)connects lazily so startup never needs the broker."""

    def __init__(self, settings: KafkaSettings) -> None:
        """
        Prepare the client options once (TLS context included).

        Raises:
            ConfigError: a TLS file cannot be used (naming its setting).
        """
        self._settings = settings
        try:
            self._options = producer_options(settings)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigError(
                f"BRIDGE_KAFKA_SSL_CAFILE: the TLS files cannot be used ({type(exc).__name__})"
            ) from None
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._hashes: dict[bytes, int] = {}  # key -> Kafka's murmur2 hash (pure Python: slow)
        self._connected = False
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def max_batch_bytes(self) -> int:
        return batch_bytes(self._settings)

    def reader(self, topic: str) -> TopicReader:
        from bridge.publish.reader import KafkaTopicReader  # noqa: PLC0415  (imports us)

        return KafkaTopicReader(self._settings, topic)

    async def ensure_topics(self, specs: Sequence[TopicSpec]) -> list[str]:
        from bridge.publish.admin import ensure_topics  # noqa: PLC0415  (imports us)

        return await ensure_topics(self._settings, specs)

    def _set_connected(self, value: bool, reason: str = "") -> None:
        if value != self._connected:
            self._connected = value
            if value:
                log.info("kafka.connected", bootstrap=self._settings.bootstrap_servers)
            else:
                log.warning("kafka.disconnected", reason=reason)

    async def start(self) -> None:
        """Connect if the cluster is reachable; failures are logged, not raised."""
        await self.probe()

    async def probe(self) -> bool:
        """
        Connect, or ask a connected producer's cluster for fresh metadata, within
        `_PROBE_TIMEOUT_S`; record the outcome in `connected` (transitions are logged).
        """
        had_producer = self._producer is not None
        try:
            producer = await self._ensure()
        except PublishError:
            return False
        if not had_producer:
            return self._connected
        try:
            with translate_kafka_errors():
                updated = await asyncio.wait_for(
                    producer.client.force_metadata_update(), _PROBE_TIMEOUT_S
                )
                reachable = bool(updated and producer.client.cluster.brokers())
        except PublishError as exc:
            self._set_connected(False, exc.message)
            return False
        self._set_connected(reachable, "" if reachable else "metadata request failed")
        return self._connected

    async def _ensure(self) -> AIOKafkaProducer:
        if self._closed:
            raise PublishError("publisher is stopped")
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                try:
                    with translate_kafka_errors():
                        producer = AIOKafkaProducer(**self._options)
                        throttle_metadata(producer.client)
                        try:
                            await asyncio.wait_for(producer.start(), _CONNECT_TIMEOUT_S)
                        except BaseException:
                            await self._close(producer)
                            raise
                except PublishError as exc:
                    self._set_connected(False, exc.message)
                    raise
                self._producer = producer
                self._set_connected(True)
            return self._producer

    @staticmethod
    async def _close(producer: AIOKafkaProducer) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), _CONNECT_TIMEOUT_S)

    async def _reset(self, reason: str) -> None:
        """Drop a producer that failed; the next call builds a fresh one."""
        producer, self._producer = self._producer, None
        self._set_connected(False, reason)
        if producer is not None:
            await self._close(producer)

    async def stop(self) -> None:
        self._closed = True
        async with self._lock:  # a connect in progress finishes (or fails) first
            producer, self._producer = self._producer, None
        if producer is not None:
            await self._close(producer)

    async def partition_for(self, topic: str, key: bytes, *, wait_s: float = 0.0) -> int:
        """
        Return the key's partition from cached metadata. For a topic without metadata a
        request is started and the call waits at most `wait_s` (the relay passes 0: a
        missing or denied topic never makes it wait). Does not change `connected`.
        """
        producer = await self._ensure()
        with translate_kafka_errors():
            partitions = producer.client.cluster.partitions_for_topic(topic)
            if not partitions:
                # Ask again on every call: `add_topic` requests metadata only the first
                # time it sees a topic, and a topic that came back without partitions
                # (just created, no leader yet) would wait for the periodic refresh.
                producer.client.add_topic(topic)
                request = producer.client.force_metadata_update()
                if wait_s > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(request), wait_s)
                    partitions = producer.client.cluster.partitions_for_topic(topic)
            if not partitions:
                raise PublishError("no metadata for the topic (missing, denied or new)")
            return _pick(sorted(partitions), self._hash(key))

    def _hash(self, key: bytes) -> int:
        """Kafka's key hash (the Java client's `murmur2 & 0x7fffffff`), memoized."""
        found = self._hashes.get(key)
        if found is None:
            found = int(murmur2(key)) & 0x7FFFFFFF
            if len(self._hashes) >= _HASHES_KEPT:
                self._hashes.clear()  # a submission's records come close together
            self._hashes[key] = found
        return found

    async def publish(
        self, topic: str, partition: int, records: Sequence[Record]
    ) -> list[Delivery]:
        producer = await self._ensure()
        try:
            with translate_kafka_errors():
                batch = producer.create_batch()
                count = 0
                for record in records:
                    appended = batch.append(
                        key=record.key,
                        value=record.value,
                        timestamp=None,
                        headers=list(record.headers),
                    )
                    if appended is None:
                        if count == 0:  # alone in an empty batch: no batch can carry it
                            raise EventTooLargeError("record does not fit into one producer batch")
                        break  # the batch is full: send what fits, the caller sends the rest
                    count += 1
                future = await producer.send_batch(batch, topic, partition=partition)
                metadata = await asyncio.wait_for(
                    future, 2 * self._settings.request_timeout_ms / 1000
                )
        except PublishError as exc:
            if exc.fatal:
                # A non-retriable failure (e.g. a broken idempotence sequence) leaves
                # the producer unusable: start over with a new producer id.
                await self._reset(exc.message)
            elif exc.unreachable:
                self._set_connected(False, exc.message)
            raise
        self._set_connected(True)
        return [Delivery(partition, metadata.offset + i) for i in range(count)]
