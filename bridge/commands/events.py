"""
`kyc-bridge events read`: print the records of a topic, one JSON object per line,
decrypted with the key-encryption key when asked (`--decrypt`; erased subjects
print their clear fields and `"pii": "erased"`).
"""

from __future__ import annotations

import sys
from typing import TextIO

import orjson
from aiokafka import AIOKafkaConsumer

from bridge.config import Settings
from bridge.errors import ConfigError
from bridge.pii import Decryptor, KeysTopicFollower
from bridge.pii.load import load_kek
from bridge.publish.kafka import client_options, translate_kafka_errors

__all__ = ["read_events"]


async def read_events(
    settings: Settings,
    *,
    topic: str | None = None,
    from_beginning: bool = False,
    subject: str | None = None,
    decrypt: bool = False,
    follow: bool = True,
    out: TextIO = sys.stdout,
) -> int:
    """
    Print the records of `topic` (default: BRIDGE_TOPIC) from its end, or from the
    beginning; only those of `subject` when given; stop at the end unless `follow`.
    Returns how many records were printed.

    Raises:
        ConfigError: `--decrypt` without a key-encryption key.
        PublishError: Kafka cannot be read.
    """
    options = client_options(settings.kafka)
    keys: KeysTopicFollower | None = None
    if decrypt:
        kek = load_kek(settings.pii)
        if kek is None:
            raise ConfigError("BRIDGE_PII_KEK_FILE: --decrypt needs the key-encryption key")
        keys = KeysTopicFollower(
            Decryptor(kek),
            bootstrap_servers=settings.kafka.bootstrap_servers,
            topic=settings.pii.keys_topic,
            consumer_options={k: v for k, v in options.items() if k != "bootstrap_servers"},
        )
    consumer = AIOKafkaConsumer(
        topic or settings.topic,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        **options,
    )
    printed = 0
    with translate_kafka_errors():
        try:
            if keys is not None:
                await keys.start()
            await consumer.start()
            ends = await _ends(consumer)
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        if record.value is None:
                            continue
                        if subject is not None and record.key != subject.encode():
                            continue
                        value = record.value
                        if keys is not None:
                            value = orjson.dumps(await keys.decrypt_event(value))
                        out.write(value.decode("utf-8") + "\n")
                        printed += 1
                out.flush()
                if not follow and await _reached(consumer, ends):
                    return printed
        finally:
            await consumer.stop()
            if keys is not None:
                await keys.stop()


async def _ends(consumer: AIOKafkaConsumer) -> dict[object, int]:
    for _ in range(50):
        assigned = consumer.assignment()
        if assigned:
            return dict(await consumer.end_offsets(list(assigned)))
        await consumer.getmany(timeout_ms=200)
    return {}


async def _reached(consumer: AIOKafkaConsumer, ends: dict[object, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True
