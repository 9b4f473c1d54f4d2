"""The Kafka topic reader while the cluster is unreachable."""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any

import pytest

from bridge.config import KafkaSettings
from bridge.errors import PublishError
from bridge.publish.reader import KafkaTopicReader


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


async def test_failed_connects_close_their_consumer() -> None:
    """
    Each read that cannot connect raises PublishError and leaves no consumer open
    behind (aiokafka reports a forgotten one as "Unclosed AIOKafkaConsumer").
    """
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{_closed_port()}")
    reader = KafkaTopicReader(settings, "kyc.state.v1")
    await reader.start({})
    for _ in range(3):
        with pytest.raises(PublishError):
            await reader.read(0.1)
    await reader.stop()
    gc.collect()
    await asyncio.sleep(0)
    assert [] == [c["message"] for c in reported if "Unclosed" in str(c.get("message"))]
