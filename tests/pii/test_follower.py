"""KeysTopicFollower against the real session broker, on a compacted topic."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from structlog.testing import capture_logs

from bridge.pii.envelope import protect_envelope
from bridge.pii.follower import KeysTopicFollower
from bridge.pii.jwks import JwksFileKek
from bridge.pii.keys import DataKey, key_record, key_record_key, new_data_key
from bridge.pii.reader import Decryptor
from bridge.types import JSONObject
from tests.pii.conftest import jwk, write_jwks
from tests.support.broker import Broker

pytestmark = pytest.mark.kafka

NOW = datetime(2025, 6, 30, 12, tzinfo=UTC)
COMPACTED = {"cleanup.policy": "compact", "max.compaction.lag.ms": "60000"}


@pytest.fixture(name="kek")
def _kek(tmp_path: Path) -> JwksFileKek:
    """A JWK Set file KEK."""
    return JwksFileKek.from_file(write_jwks(tmp_path / "kek.jwks", jwk("kek-1", 7)))


@pytest.fixture(name="keys_topic")
async def _keys_topic(kafka: Broker) -> str:
    """A fresh compacted keys topic with three partitions."""
    topic = f"pii-keys-{uuid.uuid4().hex[:8]}"
    await kafka.acreate_topic(topic, partitions=3, configs=COMPACTED)
    return topic


@pytest.fixture(name="producer")
async def _producer(kafka: Broker) -> AsyncIterator[AIOKafkaProducer]:
    """A producer that waits for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def _publish(producer: AIOKafkaProducer, topic: str, kek: JwksFileKek, dek: DataKey) -> None:
    key, value = key_record(dek, await kek.wrap(dek), created_at=NOW)
    await producer.send_and_wait(topic, value, key=key)


async def test_reads_to_the_end_at_start_then_follows(
    kafka: Broker, keys_topic: str, producer: AIOKafkaProducer, kek: JwksFileKek
) -> None:
    """Records published before start are there when start returns; later ones after catch_up."""
    before = [new_data_key(f"sub-{i}") for i in range(5)]
    for dek in before:
        await _publish(producer, keys_topic, kek, dek)
    decryptor = Decryptor(kek)
    async with KeysTopicFollower(
        decryptor, bootstrap_servers=kafka.bootstrap, topic=keys_topic
    ) as follower:
        assert [True] * 5 == [dek.kid in decryptor for dek in before]
        later = new_data_key("sub-9")
        await _publish(producer, keys_topic, kek, later)
        await follower.catch_up()
        assert later.kid in decryptor
        await producer.send_and_wait(keys_topic, None, key=key_record_key("sub-0", before[0].kid))
        await follower.catch_up()
        assert (False, 5) == (before[0].kid in decryptor, len(decryptor))


async def test_decrypt_event_catches_up_before_saying_erased(
    kafka: Broker, keys_topic: str, producer: AIOKafkaProducer, kek: JwksFileKek
) -> None:
    """An event whose key record the follower has not applied yet still decrypts."""
    decryptor = Decryptor(kek)
    async with KeysTopicFollower(
        decryptor, bootstrap_servers=kafka.bootstrap, topic=keys_topic, poll_timeout_ms=2000
    ) as follower:
        dek = new_data_key("sub-1")
        await _publish(producer, keys_topic, kek, dek)
        event: JSONObject = {"event_id": "e1", "data": {"email": "x@example.com"}, "raw": {"a": 1}}
        value = orjson.dumps(protect_envelope(event, {"email": True}, dek))
        assert event == await follower.decrypt_event(value)
        unknown = orjson.dumps(protect_envelope(event, {"email": True}, new_data_key("x")))
        assert "erased" == (await follower.decrypt_event(unknown))["pii"]


async def test_malformed_key_records_are_skipped(
    kafka: Broker, keys_topic: str, producer: AIOKafkaProducer, kek: JwksFileKek
) -> None:
    """A malformed record is counted, skipped and logged without its content."""
    await producer.send_and_wait(keys_topic, b'{"k":"CANARY"}', key=b"sub-1/kid", partition=0)
    dek = new_data_key("sub-2")
    key, value = key_record(dek, await kek.wrap(dek), created_at=NOW)
    await producer.send_and_wait(keys_topic, value, key=key, partition=0)
    decryptor = Decryptor(kek)
    with capture_logs() as logs:
        async with KeysTopicFollower(
            decryptor, bootstrap_servers=kafka.bootstrap, topic=keys_topic
        ) as follower:
            assert (1, True) == (follower.skipped, dek.kid in decryptor)
    skipped = [entry for entry in logs if entry["event"] == "pii.key_record_skipped"]
    expected = [
        {
            "event": "pii.key_record_skipped",
            "log_level": "warning",
            "partition": 0,
            "offset": 0,
            "error": "pii_key_record_invalid",
        }
    ]
    assert expected == skipped
    assert "CANARY" not in repr(logs)


async def test_start_times_out_when_the_topic_never_appears(
    kafka: Broker, kek: JwksFileKek
) -> None:
    """A missing keys topic makes start raise TimeoutError and leaves nothing running."""
    follower = KeysTopicFollower(
        Decryptor(kek), bootstrap_servers=kafka.bootstrap, topic=f"absent-{uuid.uuid4().hex[:8]}"
    )
    with pytest.raises(TimeoutError):
        await follower.start(timeout=1.5)
    with pytest.raises(RuntimeError):
        await follower.catch_up()
