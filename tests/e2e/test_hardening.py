"""
Health that tells the truth and delivery that never stalls, on real brokers and a
real bridge process: an idle broker outage is reported within 10 s without
flooding the log; a topic Kafka cannot resolve does not hold back the others; a
spool volume that fills up refuses with 503 and recovers on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.support.bridge_proc import BridgeProcess, read_topic
from tests.support.broker import BrokerPool
from tests.support.faults import HEADERS, make_bridge, payload, spool_empty, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def _metric(bridge: BridgeProcess, name: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(bridge.url + "/metrics") as r:
        for line in (await r.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def _log_lines(bridge: BridgeProcess) -> list[dict[str, object]]:
    lines = []
    for line in bridge.logs().splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):
            value = orjson.loads(line)
            if isinstance(value, dict):
                lines.append(value)
    return lines


async def _post(session: aiohttp.ClientSession, bridge: BridgeProcess, body: bytes) -> int:
    async with session.post(bridge.url + "/webhooks/argos", data=body, headers=HEADERS) as r:
        await r.read()
        return r.status


async def test_an_idle_outage_is_reported_within_10_s_quietly_and_recovers(
    brokers: BrokerPool, tmp_path: Path
) -> None:
    """
    Regression: with no traffic a stopped broker stayed "connected" for good. Now:
    kafka_connected is 0 and kafka.disconnected logged within 10 s, at most 30 log
    lines in the outage minute, and everything recovers when the broker returns.
    """
    broker = brokers.start(f"idle-{uuid.uuid4().hex[:6]}")
    topic = "kyc.hardening.idle"
    broker.create_topic(topic, partitions=1)
    bridge = make_bridge(tmp_path, broker.bootstrap, topic)
    bridge.start(wait="/readyz")
    try:
        await wait_until(lambda: _connected(bridge, 1.0), 30)
        before = len(bridge.logs().splitlines())
        await asyncio.to_thread(broker.stop)
        stopped = time.monotonic()
        await wait_until(lambda: _connected(bridge, 0.0), 12)
        assert time.monotonic() - stopped <= 10.5
        assert "kafka.disconnected" in [line["event"] for line in _log_lines(bridge)]
        await asyncio.sleep(max(0.0, 60 - (time.monotonic() - stopped)))
        during = bridge.logs().splitlines()[before:]
        assert len(during) <= 30, "\n".join(during[:40])
        async with aiohttp.ClientSession() as session, session.get(bridge.url + "/readyz") as r:
            assert (200, "disconnected") == (r.status, (await r.json())["kafka"])
        await asyncio.to_thread(broker.restart)
        await wait_until(lambda: _connected(bridge, 1.0), 30)
        async with aiohttp.ClientSession() as session:
            assert 200 == await _post(session, bridge, payload("after-outage", 0))
        assert "kafka.connected" in [line["event"] for line in _log_lines(bridge)]
    finally:
        bridge.stop()


async def _connected(bridge: BridgeProcess, value: float) -> bool:
    return value == await _metric(bridge, "kyc_bridge_kafka_connected")


async def test_a_missing_topic_full_of_dead_letters_does_not_hold_back_the_others(
    brokers: BrokerPool, tmp_path: Path
) -> None:
    """
    Regression: records of a topic without metadata filled the relay's shared buffer
    and healthy topics got nothing. Here the DLQ topic does not exist (no auto-create)
    and holds more than its whole budget; webhooks still reach Kafka at once.
    """
    broker = brokers.start(
        f"noauto-{uuid.uuid4().hex[:6]}", extra_overrides={"auto.create.topics.enable": "false"}
    )
    topic = "kyc.hardening.blocked"
    broker.create_topic(topic, partitions=3)
    bridge = make_bridge(tmp_path, broker.bootstrap, topic)
    bridge.start(wait="/readyz")
    try:
        async with aiohttp.ClientSession() as session:
            await wait_until(lambda: _connected(bridge, 1.0), 30)
            for _ in range(24):  # ~24 x 270 KB of dead letters: beyond the topic's budget
                assert 400 == await _post(session, bridge, os.urandom(200_000))
            accepted = []
            for i in range(30):
                started = time.monotonic()
                async with session.post(
                    bridge.url + "/webhooks/argos", data=payload(f"ok-{i}", 0), headers=HEADERS
                ) as response:
                    assert 200 == response.status
                    accepted.append((await response.json())["event_id"])
                assert time.monotonic() - started < 2.0
        records = await read_topic(broker.bootstrap, topic, min_count=30)
        assert set(accepted) == {r.headers["ce_id"].decode() for r in records}
        broker.create_topic(topic + ".dlq", partitions=1)
        await wait_until(lambda: spool_empty(bridge), 60)
        dead = await read_topic(broker.bootstrap, topic + ".dlq", min_count=24)
        assert 24 == len({r.headers["ce_id"] for r in dead})
    finally:
        bridge.stop()


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs volume needs root")
async def test_a_spool_volume_that_fills_up_refuses_then_recovers_on_its_own(
    brokers: BrokerPool, tmp_path: Path
) -> None:
    """
    Regression: on a full disk 2,196 spooled events stayed stuck after Kafka returned
    and /readyz stayed 503. Now: only 503 + Retry-After once full, everything 2xx'd is
    published when the broker returns, and webhooks are accepted again, no restart.
    """
    broker = brokers.start(f"tmpfs-{uuid.uuid4().hex[:6]}")
    topic = "kyc.hardening.disk"
    broker.create_topic(topic, partitions=3)
    broker.create_topic(topic + ".dlq", partitions=1)
    await asyncio.to_thread(broker.stop)
    with _tmpfs(tmp_path / "volume", "40m") as volume:
        bridge = make_bridge(
            tmp_path / "bridge",
            broker.bootstrap,
            topic,
            BRIDGE_SPOOL_DIR=str(volume / "spool"),
            BRIDGE_SPOOL_MIN_FREE_BYTES=str(24 * 1024 * 1024),
        )
        bridge.start(wait="/readyz")
        try:
            acked, refused = await _fill(bridge)
            assert acked, "nothing was accepted before the volume filled up"
            assert {(503, "30", "spool_full")} == refused
            async with aiohttp.ClientSession() as session, session.get(bridge.url + "/readyz") as r:
                body = await r.json()
                assert (503, True) == (r.status, body["spool"]["disk_low"])
            await asyncio.to_thread(broker.restart)
            await wait_until(lambda: spool_empty(bridge), 180)
            records = await read_topic(
                broker.bootstrap,
                topic,
                min_count=len(acked),
                timeout=90,
                until=lambda rs: acked <= {r.headers["ce_id"].decode() for r in rs},
            )
            assert acked <= {r.headers["ce_id"].decode() for r in records}
            await wait_until(lambda: _ready(bridge), 30)
            async with aiohttp.ClientSession() as session:
                assert await _post(session, bridge, payload("after-disk-full", 0)) in (200, 202)
            events = [line["event"] for line in _log_lines(bridge)]
            assert (1, 1) == (events.count("spool.disk_low"), events.count("spool.disk_ok"))
        finally:
            bridge.stop()


async def _ready(bridge: BridgeProcess) -> bool:
    async with aiohttp.ClientSession() as session, session.get(bridge.url + "/readyz") as r:
        return r.status == 200


async def _fill(bridge: BridgeProcess) -> tuple[set[str], set[tuple[int, str | None, str]]]:
    """Post distinct webhooks until 40 in a row are refused; return the 2xx ids and refusals."""
    acked: set[str] = set()
    refused: set[tuple[int, str | None, str]] = set()
    streak = 0
    async with aiohttp.ClientSession() as session:
        for i in range(200_000):
            async with session.post(
                bridge.url + "/webhooks/argos",
                data=payload(f"fill-{i}-{'x' * 1500}", 0),
                headers=HEADERS,
            ) as response:
                body = await response.json()
                if response.status in (200, 202):
                    acked.add(body["event_id"])
                    streak = 0
                    continue
                refused.add(
                    (response.status, response.headers.get("Retry-After"), body["error"]["code"])
                )
                streak += 1
                if streak >= 40:
                    break
    return acked, refused
