"""
The state-topic follower, in memory: a replica publishes a quick series of results once
(its own records read back are no regression), and repairs the topic when another
replica's older state lands after its newer one.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from bridge.config import load_settings
from bridge.delivery.ingest import Ingest
from bridge.errors import SpoolFullError
from bridge.publish import Record
from bridge.publish.memory import MemoryPublisher
from bridge.state import CurrentState, order_key
from bridge.types import JSONObject
from tests.delivery.running import accept, running
from tests.support.gated import GatedPublisher

EVENTS, STATE = "kyc.events.v1", "kyc.state.v1"
TIMES = ("2025-03-20T11:00:00.000Z", "2025-03-20T11:01:00.000Z", "2025-03-20T11:02:00.000Z")


def _result(subject: str, status: str, at: str) -> JSONObject:
    return {
        "webhook_trigger": status,
        "submission_id": subject,
        "kyc_result": {"status": status, "updated_at": at},
    }


def _ingest(tmp_path: Path, publisher: MemoryPublisher) -> AbstractAsyncContextManager[Ingest]:
    settings = load_settings(
        {"BRIDGE_AUTH_TOKENS": "followers-token-0000001", "BRIDGE_SPOOL_DIR": str(tmp_path)}
    )
    return running(settings, publisher)


async def _settled(ingest: Ingest, seconds: float = 0.3) -> None:
    """Wait until the spool is empty, then let the follower read (it polls every 50 ms)."""
    async with asyncio.timeout(10):
        while ingest.spool.events:
            await asyncio.sleep(0.02)
    await asyncio.sleep(seconds)
    async with asyncio.timeout(10):
        while ingest.spool.events:  # what the follower appended (a republish)
            await asyncio.sleep(0.02)


def _older_state_of_another_replica(subject: str) -> Record:
    """Another replica's state record: approved at TIMES[0], older than this replica's."""
    older = CurrentState(
        subject=subject,
        project="default",
        status="approved",
        status_time=order_key(TIMES[0]),
        event_id="0190d6b2-9e1c-8a3e-8f00-000000000002",
        event_type="kyc.approved",
        channel="webhook",
        updated_at="2026-11-29T08:00:01.000Z",
    )
    return Record(subject.encode(), older.to_json())


def _states(publisher: MemoryPublisher) -> list[tuple[str | None, str | None]]:
    states = [CurrentState.from_json(r.value or b"") for r in publisher.records(STATE)]
    return [(s.status, s.status_time) for s in states]


async def test_a_quick_series_on_one_replica_publishes_each_state_once(tmp_path: Path) -> None:
    """
    Three results accepted before the follower reads any state back: the older two, read
    after the newest was accepted, are this replica's own: three state records, not five.
    """
    publisher = GatedPublisher()
    async with _ingest(tmp_path, publisher) as ingest:
        for status, at in zip(("approved", "rejected", "approved"), TIMES, strict=True):
            await accept(ingest, _result("sub-q", status, at))
        await _settled(ingest, 0.0)
        publisher.gate.set()
        await _settled(ingest)
    expected = [
        (status, order_key(at))
        for status, at in zip(("approved", "rejected", "approved"), TIMES, strict=True)
    ]
    assert expected == _states(publisher)


async def test_an_older_state_of_another_replica_landing_last_is_repaired(
    tmp_path: Path,
) -> None:
    """Another replica's older state after ours (already read back): ours is published again."""
    publisher = MemoryPublisher(partitions=1)
    async with _ingest(tmp_path, publisher) as ingest:
        await accept(ingest, _result("sub-r", "rejected", TIMES[2]))
        await _settled(ingest)
        publisher.log[(STATE, 0)].append(_older_state_of_another_replica("sub-r"))
        await _settled(ingest)
    newest = ("rejected", order_key(TIMES[2]))
    assert [newest, ("approved", order_key(TIMES[0])), newest] == _states(publisher)


async def test_the_repair_is_appended_with_the_position_it_was_read_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    The follower stores how far it read and the republished newer state in one
    transaction: a spool that refuses new webhooks at that moment (full) neither loses
    the repair nor makes the follower skip it, and after a restart the topic's last
    value is still the newest.
    """
    publisher = MemoryPublisher(partitions=1)
    async with _ingest(tmp_path, publisher) as ingest:
        await accept(ingest, _result("sub-f", "rejected", TIMES[2]))
        await _settled(ingest)

        async def full(*args: object, **kwargs: object) -> None:
            raise SpoolFullError("spool is full")

        monkeypatch.setattr(ingest.spool, "append", full)
        publisher.log[(STATE, 0)].append(_older_state_of_another_replica("sub-f"))
        await _settled(ingest)
    monkeypatch.undo()
    async with _ingest(tmp_path, publisher) as ingest:
        await _settled(ingest)
    newest = ("rejected", order_key(TIMES[2]))
    assert [newest, ("approved", order_key(TIMES[0])), newest] == _states(publisher)
