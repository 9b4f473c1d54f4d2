"""The aiokafka adapter's behaviour that the contract suite cannot show with memory."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bridge.config import KafkaSettings
from bridge.errors import PublishError
from bridge.publish.kafka import KafkaPublisher
from tests.support.broker import BrokerPool

pytestmark = pytest.mark.kafka


async def test_partition_for_asks_again_for_a_topic_it_was_told_is_missing(
    brokers: BrokerPool,
) -> None:
    """
    A topic that had no partitions when first asked for (missing, or just created
    without a leader yet) is found by a later call once it exists, without waiting for
    the periodic metadata refresh (minutes): each call asks the cluster again.
    """
    broker = brokers.start(
        f"no-autocreate-{uuid.uuid4().hex[:6]}",
        extra_overrides={"auto.create.topics.enable": "false"},
    )
    publisher = KafkaPublisher(KafkaSettings(bootstrap_servers=broker.bootstrap))
    topic = f"late-{uuid.uuid4().hex[:8]}"
    try:
        await publisher.start()
        with pytest.raises(PublishError):
            await publisher.partition_for(topic, b"sub-1", wait_s=2.0)  # answered: no topic
        await broker.acreate_topic(topic, partitions=3)
        found: int | None = None
        for _ in range(50):
            try:
                found = await publisher.partition_for(topic, b"sub-1")
                break
            except PublishError:
                await asyncio.sleep(0.1)
        assert found in {0, 1, 2}
    finally:
        await publisher.stop()
        await asyncio.to_thread(broker.stop)
