"""A broker's lifecycle (kafkactl.broker) on one module-scoped PLAINTEXT broker, in file order."""

from __future__ import annotations

import os
import time

import pytest

from tests.kafka.clients import consume, describe_topic, port_open, produce, unique_topic
from tests.support.broker import Broker, BrokerPool, BrokerStartError

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module", name="broker")
def _broker(brokers: BrokerPool) -> Broker:
    return brokers.start("plain")


async def test_produce_consume_idempotent_with_consumer_group(broker: Broker) -> None:
    """A fresh broker serves an idempotent acks=all producer and a consumer group."""
    assert f"127.0.0.1:{broker.port}" == broker.bootstrap
    assert broker.is_running()
    assert "Kafka Server started" in broker.log_path.read_text()
    topic = unique_topic()
    await broker.acreate_topic(topic, partitions=2)
    await produce(broker.bootstrap, topic, [b"hello"])
    assert [b"hello"] == await consume(broker.bootstrap, topic, 1, group_id="g-" + topic)


async def test_stop_then_restart_keeps_port_and_data(broker: Broker) -> None:
    """stop() closes the port; restart() reopens the same port with the records kept."""
    topic = unique_topic()
    broker.create_topic(topic)  # the blocking twin also works inside a running loop
    await produce(broker.bootstrap, topic, [b"before-stop"])
    port, data_dir = broker.port, broker.data_dir

    await broker.astop()
    assert not broker.is_running()
    assert not port_open(port)
    assert not broker.pid_path.exists()

    await broker.arestart()
    assert (port, data_dir) == (broker.port, broker.data_dir)
    assert [b"before-stop"] == await consume(broker.bootstrap, topic, 1)


async def test_kill_9_then_restart_recovers_acked_records(broker: Broker) -> None:
    """Records acked with acks=all survive a SIGKILL; the restarted broker takes new ones."""
    topic = unique_topic()
    await broker.acreate_topic(topic)
    await produce(broker.bootstrap, topic, [b"acked-1", b"acked-2"])
    pid = broker.pid
    assert pid is not None

    broker.kill()
    assert not broker.is_running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)

    await broker.arestart()  # stop() is a no-op on a dead JVM; same ports and data dir
    await produce(broker.bootstrap, topic, [b"after-crash"])
    expected = [b"acked-1", b"acked-2", b"after-crash"]
    assert expected == await consume(broker.bootstrap, topic, 3)


async def test_topic_configs_are_applied(broker: Broker) -> None:
    """acreate_topic creates the partitions and passes topic configs through."""
    topic = unique_topic()
    await broker.acreate_topic(topic, partitions=2, configs={"cleanup.policy": "compact"})
    partitions, configs = await describe_topic(broker.bootstrap, topic)
    assert (2, "compact") == (partitions, configs["cleanup.policy"])


def test_start_fails_fast_with_the_log_tail(brokers: BrokerPool, broker: Broker) -> None:
    """A JVM that dies at startup (its port is taken) fails start() long before its timeout."""
    clash = brokers.new("clash", port=broker.port)
    started = time.monotonic()
    with pytest.raises(BrokerStartError) as caught:
        clash.start(timeout=60)
    assert time.monotonic() - started < 30
    assert "exited" in caught.value.summary
    assert "Address already in use" in caught.value.detail
    assert not clash.is_running()
    assert broker.is_running()
