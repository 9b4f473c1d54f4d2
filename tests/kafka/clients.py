"""Small aiokafka clients and helpers shared by the broker tool's tests."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

__all__ = [
    "consume",
    "describe_topic",
    "port_open",
    "produce",
    "unique_topic",
]


def unique_topic() -> str:
    """Return a topic name no other test uses."""
    return f"t-{uuid.uuid4().hex[:12]}"


async def produce(bootstrap: str, topic: str, values: list[bytes], **client: Any) -> None:
    """Send `values` in order with an idempotent acks=all producer (the bridge's settings)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **client
    )
    try:
        await producer.start()
        for value in values:
            await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def consume(
    bootstrap: str, topic: str, count: int, *, group_id: str | None = None, **client: Any
) -> list[bytes]:
    """Read `count` records of partition 0 from the start (a group, or manual assignment)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **client,
    )
    values: list[bytes] = []
    try:
        await consumer.start()
        if group_id is None:
            partition = TopicPartition(topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
        else:
            consumer.subscribe([topic])
        async with asyncio.timeout(30):
            while len(values) < count:
                record = await consumer.getone()
                values.append(record.value)
    finally:
        await consumer.stop()
    return values


def port_open(port: int) -> bool:
    """Return True if something accepts TCP connections on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


async def describe_topic(bootstrap: str, topic: str) -> tuple[int, dict[str, str]]:
    """Return the partition count and the (effective) configs of `topic`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
    finally:
        await admin.close()
    entries = response.resources[0][4]  # (error_code, message, type, name, config_entries)
    return len(described["partitions"]), {entry[0]: entry[1] for entry in entries}
