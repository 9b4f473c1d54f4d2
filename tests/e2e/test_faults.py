"""
Fault tests on real brokers and a real bridge process: broker outages,
SIGKILL of the bridge, a full spool, a broker that appears late, poison
requests and SIGTERM. The checks are always the same: every event answered
2xx is in Kafka, each submission's events are in acceptance order, no id is
missing.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.support.bridge_proc import BridgeProcess, free_port, read_topic
from tests.support.broker import Broker, BrokerPool
from tests.support.faults import (
    HEADERS,
    Stream,
    make_bridge,
    payload,
    spool_empty,
    verify,
    wait_until,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture(name="own_broker")
def _own_broker(brokers: BrokerPool, request: pytest.FixtureRequest) -> Broker:
    return brokers.start(f"fault-{request.node.name[:40]}-{uuid.uuid4().hex[:6]}")


async def _stream_through_chaos(
    broker: Broker,
    workdir: Path,
    topic: str,
    chaos: Callable[[BridgeProcess], Awaitable[None]],
) -> Stream:
    """Stream 250 submissions x 3 events while `chaos` runs; verify everything after."""
    broker.create_topic(topic, partitions=3)
    bridge = make_bridge(workdir, broker.bootstrap, topic)
    bridge.start(wait="/readyz")
    stream = Stream(bridge.url + "/webhooks/argos")
    try:
        await asyncio.gather(stream.run(250, 3), chaos(bridge))
        await wait_until(lambda: spool_empty(bridge), 120)
        await verify(stream, broker.bootstrap, topic)
    finally:
        bridge.stop()
    assert 750 == stream.acked_count
    return stream


async def test_broker_outage_mid_stream_loses_nothing(own_broker: Broker, tmp_path: Path) -> None:
    """Stop and restart the broker under a stream of 250 submissions x 3 events."""

    async def chaos(_: BridgeProcess) -> None:
        await asyncio.sleep(1.5)
        await asyncio.to_thread(own_broker.stop)
        await asyncio.sleep(4)
        await asyncio.to_thread(own_broker.restart)

    stream = await _stream_through_chaos(own_broker, tmp_path, "kyc.faults.outage", chaos)
    assert stream.statuses.get(202, 0) > 0, "the outage never pushed anything through the spool"


async def test_sigkill_of_the_bridge_mid_stream_loses_nothing(
    own_broker: Broker, tmp_path: Path
) -> None:
    """SIGKILL the bridge twice while 250 submissions stream in; restart it on the same spool."""

    async def chaos(bridge: BridgeProcess) -> None:
        for _ in range(2):
            await asyncio.sleep(1.5)
            await asyncio.to_thread(bridge.kill)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(bridge.start)

    stream = await _stream_through_chaos(own_broker, tmp_path, "kyc.faults.sigkill", chaos)
    assert stream.errors > 0, "the kill never interrupted a request"


async def test_broker_absent_at_startup_then_spool_full_then_broker_appears(
    brokers: BrokerPool, tmp_path: Path
) -> None:
    """
    No broker at startup: the bridge starts and accepts into the spool (202) up to its
    cap, then answers 503 with Retry-After; once the broker appears, everything that got
    a 2xx is published and the spool empties.
    """
    port = free_port()
    topic = "kyc.faults.late"
    bridge = make_bridge(tmp_path, f"127.0.0.1:{port}", topic, BRIDGE_SPOOL_MAX_EVENTS="40")
    bridge.start(wait="/readyz")
    accepted: list[str] = []
    refused: list[tuple[int, str | None, str]] = []
    try:
        async with aiohttp.ClientSession() as session:
            for i in range(60):
                async with session.post(
                    bridge.url + "/webhooks/argos", data=payload(f"late-{i}", 0), headers=HEADERS
                ) as response:
                    body = await response.json()
                    if response.status == 202:
                        assert "spool" == body["stored"]
                        accepted.append(body["event_id"])
                    else:
                        refused.append(
                            (
                                response.status,
                                response.headers.get("Retry-After"),
                                body["error"]["code"],
                            )
                        )
        assert 40 == len(accepted)
        assert {(503, "30", "spool_full")} == set(refused)
        broker = brokers.new(f"late-{uuid.uuid4().hex[:6]}", port=port)
        await asyncio.to_thread(broker.start)
        broker.create_topic(topic, partitions=3)
        await wait_until(lambda: spool_empty(bridge), 120)
        records = await read_topic(broker.bootstrap, topic, min_count=40)
        assert set(accepted) == {r.headers["ce_id"].decode() for r in records}
    finally:
        bridge.stop()


async def test_poison_requests_do_not_stall_the_ones_after_them(
    kafka: Broker, tmp_path: Path
) -> None:
    """Invalid JSON and undecryptable bodies go to the DLQ; good webhooks keep flowing."""
    topic = f"kyc.faults.poison.{uuid.uuid4().hex[:6]}"
    kafka.create_topic(topic, partitions=3)
    bridge = make_bridge(tmp_path, kafka.bootstrap, topic, BRIDGE_ARGOS_API_KEYS="poison-key")
    bridge.start(wait="/readyz")
    good: list[str] = []
    poison = [b"{broken", orjson.dumps({"data": "bm90IGNpcGhlcnRleHQ="}), b"[]"]
    try:
        async with aiohttp.ClientSession() as session:
            for i, bad in zip(range(30), itertools.cycle(poison), strict=False):
                async with session.post(
                    bridge.url + "/webhooks/argos", data=bad, headers=HEADERS
                ) as response:
                    assert 400 == response.status
                started = time.monotonic()
                async with session.post(
                    bridge.url + "/webhooks/argos", data=payload(f"ok-{i}", 0), headers=HEADERS
                ) as response:  # 202 on a loaded machine: stored, Kafka's ack still due
                    assert response.status in (200, 202)
                    good.append((await response.json())["event_id"])
                assert time.monotonic() - started < 2.0
        records = await read_topic(kafka.bootstrap, topic, min_count=30)
        dead = await read_topic(kafka.bootstrap, topic + ".dlq", min_count=3)
    finally:
        bridge.stop()
    assert set(good) == {r.headers["ce_id"].decode() for r in records}
    reasons = {orjson.loads(r.value or b"{}")["data"]["reason"] for r in dead}
    assert {"invalid_json", "decryption_failed"} == reasons
    # one dead letter per distinct body: repeats of a body share its id (dedup window)
    assert 3 == len({r.headers["ce_id"] for r in dead})


async def test_sigterm_finishes_in_flight_requests_and_refuses_new_ones(
    brokers: BrokerPool, tmp_path: Path
) -> None:
    """On SIGTERM: /readyz turns 503, in-flight requests still get their 2xx, exit 0."""
    # A "broker" that accepts connections and never answers: Kafka's state stays unknown,
    # so requests wait out the publish deadline in flight.
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    bridge = make_bridge(
        tmp_path,
        f"127.0.0.1:{port}",
        "kyc.faults.sigterm",
        BRIDGE_PUBLISH_DEADLINE_MS="3000",
        BRIDGE_SHUTDOWN_GRACE_S="10",
    )
    bridge.start(wait="/readyz")
    async with silent, aiohttp.ClientSession() as session:
        in_flight = [
            asyncio.create_task(
                session.post(
                    bridge.url + "/webhooks/argos", data=payload(f"term-{i}", 0), headers=HEADERS
                )
            )
            for i in range(5)
        ]
        await asyncio.sleep(0.5)
        assert bridge.process is not None
        bridge.process.terminate()
        await asyncio.sleep(0.2)
        async with session.get(bridge.url + "/readyz") as ready:
            assert 503 == ready.status
        async with session.post(
            bridge.url + "/webhooks/argos", data=payload("late", 0), headers=HEADERS
        ) as late:
            assert (503, "shutting_down") == (late.status, (await late.json())["error"]["code"])
        responses = await asyncio.gather(*in_flight)
        assert [202] * 5 == [r.status for r in responses]
        for r in responses:
            r.release()
    assert 0 == await asyncio.to_thread(bridge.process.wait, 15)
    assert "bridge.stopped" in bridge.logs()
