"""The delivery contract in one place: Ingest over a real spool and the memory publisher."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from structlog.testing import capture_logs

from bridge.config import Settings, load_settings
from bridge.deadletter import Origin
from bridge.delivery.ingest import Ingest
from bridge.delivery.spool.ops import Counts
from bridge.errors import EventTooLargeError, SpoolUnavailableError
from bridge.events import Draft, EventFactory
from bridge.metrics import Metrics
from bridge.publish import Delivery, Record
from bridge.publish.kafka import KafkaPublisher
from bridge.publish.memory import MemoryPublisher
from bridge.schemas import load_registry
from bridge.types import JSONObject
from tests.support.bridge_proc import read_topic
from tests.support.broker import Broker, BrokerPool

FACTORY = EventFactory(load_registry())
RECEIVED = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def _ingest(tmp_path: Path, publisher: MemoryPublisher) -> Ingest:
    settings = load_settings(
        {"BRIDGE_AUTH_TOKENS": "ingest-token-000000001", "BRIDGE_SPOOL_DIR": str(tmp_path)}
    )
    return Ingest(settings, publisher, Metrics(), factory=FACTORY)


def _event(size: int) -> Draft:
    payload: JSONObject = {
        "webhook_trigger": "approved",
        "submission_id": "sub-big",
        "x_pad": "p" * size,
    }
    return FACTORY.draft(payload, project="p", received_at=datetime.now(UTC), encrypted=False)


def _origin(body: bytes) -> Origin:
    return Origin(body, "p", datetime(2026, 1, 2, tzinfo=UTC), {"method": "POST"})


async def _refused(tmp_path: Path, body: bytes) -> JSONObject:
    """Accept a ~5 KB event that Kafka (4 KB records) refuses; return its one dead letter."""
    publisher = MemoryPublisher(partitions=1, max_record_bytes=4_000)
    ingest = _ingest(tmp_path, publisher)
    await ingest.start()
    await publisher.start()
    loop = asyncio.get_running_loop()
    with pytest.raises(EventTooLargeError):  # the request learns it was dead-lettered
        await ingest.accept(
            _event(2_500), "kyc.events.v1", deadline=loop.time() + 5, origin=_origin(body)
        )
    async with asyncio.timeout(10):
        while not publisher.records("kyc.events.dlq.v1") or ingest.spool.events:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    (dead,) = publisher.records("kyc.events.dlq.v1")  # exactly one dead letter
    assert [] == publisher.records("kyc.events.v1")
    assert 0 == ingest.spool.events
    await ingest.stop()
    value = orjson.loads(dead.value or b"")
    assert isinstance(value, dict)
    return value


async def test_a_record_kafka_refuses_is_dead_lettered_once_with_the_body_as_received(
    tmp_path: Path,
) -> None:
    """Regression: a refusal made two dead letters, one carrying the decrypted payload."""
    body = b'{"data":"ENCRYPTED-BODY-AS-RECEIVED=="}'
    data = (await _refused(tmp_path, body))["data"]
    assert isinstance(data, dict)
    assert ("event_too_large", body) == (data["reason"], base64.b64decode(str(data["body_b64"])))


async def test_a_dead_letter_kafka_refuses_too_becomes_a_body_less_one(tmp_path: Path) -> None:
    """Refused for good: dead-lettered; if that is refused too, a body-less dead letter."""
    data = (await _refused(tmp_path, b"x" * 4_000))["data"]  # its base64 alone is too big
    assert isinstance(data, dict)
    assert ("dead_letter_too_large", 0) == (data["reason"], data["size"])


async def test_restart_remembers_pending_ids_so_repeats_are_not_stored_twice(
    tmp_path: Path,
) -> None:
    """After a restart, a repeat of a still-spooled event is answered without a new row."""
    publisher = MemoryPublisher(partitions=1)
    publisher.down = True
    event = _event(10)
    first = _ingest(tmp_path, publisher)
    await first.start()
    loop = asyncio.get_running_loop()
    receipt = await first.accept(event, "kyc.events.v1", deadline=loop.time() + 0.1)
    assert "spool" == receipt.stored
    await first.stop()

    again = _ingest(tmp_path, publisher)
    await again.start()
    repeat = await again.accept(event, "kyc.events.v1", deadline=loop.time() + 0.1)
    assert (True, 1) == (repeat.duplicate, again.spool.events)
    publisher.down = False
    async with asyncio.timeout(10):
        while again.spool.events:
            await asyncio.sleep(0.02)
    assert 1 == len(publisher.records("kyc.events.v1"))
    await again.stop()


def _kafka_settings(tmp_path: Path, bootstrap: str, topic: str) -> Settings:
    return load_settings(
        {
            "BRIDGE_AUTH_TOKENS": "ingest-token-000000001",
            "BRIDGE_SPOOL_DIR": str(tmp_path),
            "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "BRIDGE_TOPIC": topic,
            "BRIDGE_DLQ_TOPIC": topic + ".dlq",
            "BRIDGE_KAFKA_REQUEST_TIMEOUT_MS": "5000",
        }
    )


def _gauge(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    assert value is not None, name
    return value


@pytest.mark.kafka
async def test_background_tasks_survive_spool_errors_and_shutdown_closes_everything(
    brokers: BrokerPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    Regression: one spool error in a stats read killed the monitor for good (frozen
    gauges, no reconnect, stop() re-raised). Now the task is logged, counted and
    restarted; Kafka's state stays true; shutdown closes the producer and the spool.
    """
    broker = brokers.start(f"supervise-{uuid.uuid4().hex[:6]}")
    settings = _kafka_settings(tmp_path, broker.bootstrap, "kyc.supervised")
    broker.create_topic(settings.topic, partitions=1)
    metrics = Metrics()
    publisher = KafkaPublisher(settings.kafka)
    ingest = Ingest(settings, publisher, metrics, factory=FACTORY)
    failures = [sqlite3.OperationalError("disk I/O error")] * 2
    refresh = ingest.spool.refresh

    async def flaky_refresh(*, count: bool = True) -> Counts:
        if failures:
            raise failures.pop()
        return await refresh(count=count)

    monkeypatch.setattr(ingest.spool, "refresh", flaky_refresh)
    with capture_logs() as logs:
        await ingest.start()
        async with asyncio.timeout(30):
            while _gauge(metrics, "kyc_bridge_kafka_connected") != 1:
                await asyncio.sleep(0.1)
        assert 2 == _gauge(metrics, "kyc_bridge_task_restarts_total", {"task": "gauges"})
        await asyncio.to_thread(broker.stop)
        async with asyncio.timeout(12):  # the gauges kept running: the outage shows
            while _gauge(metrics, "kyc_bridge_kafka_connected") != 0:
                await asyncio.sleep(0.1)
        assert await ingest.check()  # readiness follows the spool, which is fine
        ingest.gate.close(2.0)
        await ingest.stop()
    crashed = [e for e in logs if e["event"] == "task.crashed"]
    assert [("gauges", "OperationalError")] * 2 == [(e["task"], e["error"]) for e in crashed]
    assert "disk I/O error" not in str(crashed)  # type and place only, never the message
    with pytest.raises(SpoolUnavailableError):
        await ingest.spool.read_after(0, 1)  # closed
    assert not ingest.supervisor.running("relay")


@pytest.mark.kafka
async def test_more_concurrent_webhooks_than_one_spool_group_all_reach_kafka(
    kafka: Broker, tmp_path: Path
) -> None:
    """Regression (writer dropped one operation per full group): 5,000 at once, all stored."""
    topic = f"kyc.groups.{uuid.uuid4().hex[:6]}"
    await kafka.acreate_topic(topic, partitions=3)
    settings = _kafka_settings(tmp_path, kafka.bootstrap, topic)
    ingest = Ingest(settings, KafkaPublisher(settings.kafka), Metrics(), factory=FACTORY)
    await ingest.start()
    loop = asyncio.get_running_loop()
    events = [_numbered(i) for i in range(5_000)]
    async with asyncio.timeout(120):
        receipts = await asyncio.gather(
            *(ingest.accept(e, topic, deadline=loop.time() + 1) for e in events)
        )
        while ingest.spool.events:
            await asyncio.sleep(0.1)
    ingest.gate.close(5.0)
    await ingest.stop()
    assert {e.event_id for e in events} == {r.event_id for r in receipts}
    ids = {e.event_id for e in events}
    records = await read_topic(
        kafka.bootstrap,
        topic,
        min_count=5_000,
        timeout=60,
        until=lambda rs: ids <= {r.headers["ce_id"].decode() for r in rs},
    )
    assert ids <= {r.headers["ce_id"].decode() for r in records}


def _numbered(i: int) -> Draft:
    payload: JSONObject = {"webhook_trigger": "submit", "submission_id": f"sub-{i % 97}", "n": i}
    return FACTORY.draft(payload, project="p", received_at=datetime.now(UTC), encrypted=False)


class _SilentPublisher(MemoryPublisher):
    """
    A cluster that vanished the way Kafka does: publishes hang (the client retries
    inside) and `connected` only changes when a probe asks.
    """

    def __init__(self) -> None:
        super().__init__(partitions=1)
        self.silent = False
        self._seen = True
        self.probes = 0

    @property
    def connected(self) -> bool:
        return self._seen

    async def probe(self) -> bool:
        self.probes += 1
        self._seen = not self.silent
        return self._seen

    async def publish(
        self, topic: str, partition: int, records: Sequence[Record]
    ) -> list[Delivery]:
        while self.silent:
            await asyncio.sleep(0.05)
        return await super().publish(topic, partition, records)


async def test_a_webhook_whose_ack_is_late_has_kafka_probed_at_once(tmp_path: Path) -> None:
    """
    Kafka vanished: the first webhook waits about half a second for its ack, asks for
    a probe, and gets its 202 as soon as the probe finds Kafka gone (not at its 5 s
    deadline); the next webhooks get theirs without waiting, long before the periodic
    probe (every 3 s) would have noticed.
    """
    publisher = _SilentPublisher()
    ingest = _ingest(tmp_path, publisher)
    await publisher.start()
    await ingest.start()
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(5):
            while not publisher.probes:  # the first probe ran: Kafka is known to be up
                await asyncio.sleep(0.01)
        publisher.silent = True
        waited = []
        for number in range(3):
            started = loop.time()
            payload: JSONObject = {"webhook_trigger": "approved", "submission_id": f"s-{number}"}
            draft = FACTORY.draft(payload, project="p", received_at=RECEIVED, encrypted=False)
            receipt = await ingest.accept(draft, "kyc.events.v1", deadline=started + 5.0)
            assert "spool" == receipt.stored
            waited.append(loop.time() - started)
            await asyncio.sleep(0.3)
        assert 0.4 < waited[0] < 2.0, waited  # patience, then the probe's answer
        assert max(waited[1:]) < 0.2, waited  # known down: answered once stored
        publisher.silent = False
        async with asyncio.timeout(10):
            while ingest.spool.events:  # back: everything is delivered
                await asyncio.sleep(0.05)
    finally:
        ingest.gate.close(1.0)
        await ingest.stop()
