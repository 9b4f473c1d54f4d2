"""/readyz and /metrics reflect what the bridge is doing."""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bridge.config import load_settings
from bridge.delivery import ingest
from bridge.delivery.spool import Spool
from bridge.delivery.spool.ops import Work
from bridge.errors import SpoolUnavailableError
from bridge.ingress.app import create_app
from bridge.ingress.state import SERVICES
from bridge.publish.memory import MemoryPublisher

TOKEN = "metrics-token-00000000001"
Client = TestClient[web.Request, web.Application]


@pytest.fixture(name="publisher")
def _publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture(name="client")
async def _client(tmp_path: Path, publisher: MemoryPublisher) -> AsyncIterator[Client]:
    settings = load_settings(
        {
            "BRIDGE_AUTH_TOKENS": TOKEN,
            "BRIDGE_SPOOL_DIR": str(tmp_path),
            "BRIDGE_SPOOL_MAX_BYTES": str(64 * 1024),
            "BRIDGE_PUBLISH_DEADLINE_MS": "100",
        }
    )
    async with TestClient(TestServer(create_app(settings, publisher=publisher))) as client:
        yield client


def _value(text: str, name: str, **labels: str) -> float:
    selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = (
        rf"^{re.escape(name)}(?:\{{{re.escape(selector)}\}})? (\S+)$"
        if labels
        else (rf"^{re.escape(name)} (\S+)$")
    )
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name}{labels} not exported"
    return float(match.group(1))


async def _post(client: Client, trigger: str, sid: str, pad: int = 0) -> int:
    body = orjson.dumps({"webhook_trigger": trigger, "submission_id": sid, "x_pad": "p" * pad})
    return (await client.post(f"/webhooks/argos/{TOKEN}", data=body)).status


async def test_metrics_count_requests_events_dlq_dedup_and_spool(
    client: Client, publisher: MemoryPublisher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    Requests, events by outcome, dead letters, dedup hits and window size, spool depth
    and the spool volume's free space are exported.
    """
    assert 200 == await _post(client, "approved", "s1")
    assert 200 == await _post(client, "approved", "s1")  # repeat -> dedup hit
    assert 400 == (await client.post(f"/webhooks/argos/{TOKEN}", data=b"{nope")).status
    publisher.down = True
    assert 202 == await _post(client, "rejected", "s2")
    monkeypatch.setattr(ingest, "_COUNT_EVERY", 1)  # count the dedup window on every tick
    await asyncio.sleep(1.2)  # the gauges refresh every second
    text = await (await client.get("/metrics")).text()
    route = "/webhooks/argos/{token}"
    assert 2 == _value(text, "kyc_bridge_http_requests_total", route=route, status="200")
    assert 1 == _value(text, "kyc_bridge_http_requests_total", route=route, status="400")
    assert 1 == _value(text, "kyc_bridge_events_total", event_type="kyc.approved", outcome="kafka")
    assert 1 == _value(
        text, "kyc_bridge_events_total", event_type="kyc.approved", outcome="duplicate"
    )
    assert 1 == _value(text, "kyc_bridge_events_total", event_type="kyc.rejected", outcome="spool")
    assert 1 == _value(text, "kyc_bridge_dead_letters_total", reason="invalid_json")
    assert 1 == _value(text, "kyc_bridge_dedup_hits_total")
    assert 1 <= _value(text, "kyc_bridge_spool_events")
    assert 0 < _value(text, "kyc_bridge_spool_bytes")
    assert 1 <= _value(text, "kyc_bridge_dedup_entries")  # the delivered approved
    free = shutil.disk_usage(tmp_path).free
    assert abs(free - _value(text, "kyc_bridge_spool_free_bytes")) < max(free // 10, 1 << 20)
    assert 0 == _value(text, "kyc_bridge_kafka_connected")
    assert 1 <= _value(text, "kyc_bridge_publish_duration_seconds_count")
    assert "sub" not in re.sub(r"#.*", "", text).replace("submission", "")  # no ids in labels


async def test_readyz_is_false_when_neither_kafka_nor_spool_can_take_events(
    client: Client, publisher: MemoryPublisher
) -> None:
    """Kafka down and spool full: /readyz answers 503; with Kafka back it is ready again."""
    publisher.down = True
    statuses = [await _post(client, "updated", f"fill-{i}", pad=4000) for i in range(40)]
    assert 503 in statuses  # the spool filled up
    ready = await client.get("/readyz")
    body = await ready.json()
    assert (503, "not_ready", "disconnected") == (ready.status, body["status"], body["kafka"])
    publisher.down = False
    async with asyncio.timeout(10):
        while (await client.get("/readyz")).status != 200:
            await asyncio.sleep(0.1)


async def test_readyz_is_false_while_the_spool_hangs_and_ready_again_after(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    The spool's volume hangs (its writer stuck inside a transaction): /readyz answers 503
    with `writable: false` instead of a stale 200; once the volume moves again, 200.
    """
    release = threading.Event()
    original = Spool._apply

    def hang(
        self: Spool, conn: sqlite3.Connection, group: list[Work], loop: asyncio.AbstractEventLoop
    ) -> list[Work]:
        release.wait(10)
        return original(self, conn, group, loop)

    monkeypatch.setattr(Spool, "_apply", hang)
    webhook = asyncio.create_task(_post(client, "approved", "hang-1"))
    await asyncio.sleep(1.2)
    ready = await client.get("/readyz")
    body = await ready.json()
    assert (503, "not_ready", False) == (ready.status, body["status"], body["spool"]["writable"])
    monkeypatch.undo()
    release.set()
    assert await webhook in (200, 202)
    async with asyncio.timeout(10):
        while (await client.get("/readyz")).status != 200:
            await asyncio.sleep(0.1)


async def test_gauges_stay_true_while_the_spool_cannot_be_refreshed(
    client: Client, publisher: MemoryPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    The gauges task's spool refresh fails (write errors): Kafka's gauge still follows the
    cluster (0 once it is gone) instead of freezing with the task's crash loop.
    """
    assert client.app is not None
    spool = client.app[SERVICES].ingest.spool

    async def failing(*args: object, **kwargs: object) -> None:
        raise SpoolUnavailableError("spool write failed: OperationalError")

    async def connected() -> float:
        return _value(await (await client.get("/metrics")).text(), "kyc_bridge_kafka_connected")

    async with asyncio.timeout(15):
        while not await connected():
            await asyncio.sleep(0.1)
    monkeypatch.setattr(spool, "refresh", failing)
    await asyncio.sleep(1.5)  # the gauges task meets the failing refresh
    publisher.down = True
    async with asyncio.timeout(15):
        while await connected():
            await asyncio.sleep(0.2)
