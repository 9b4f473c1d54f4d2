"""
The delivery side of reconciliation, in memory against the fake ARGOS API: the periodic
reconciler waits for the state topic before its first run, and each run logs what it
published once per project.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from structlog.testing import capture_logs

from bridge.config import Settings, load_settings
from bridge.delivery.reconciler import Reconciler
from bridge.metrics import Metrics
from bridge.publish import ReadRecord, Record
from bridge.publish.memory import MemoryPublisher, MemoryReader
from bridge.state import CurrentState, order_key
from tests.delivery.running import FACTORY, running
from tests.support.fake_argos import FakeArgos
from tests.support.fake_argos_items import Submission
from tests.support.gated import GatedPublisher

API_KEY = "canary-reconciler-api-key-91c3"
EVENTS, STATE = "kyc.events.v1", "kyc.state.v1"
DECIDED = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


def _settings(tmp_path: Path, argos: FakeArgos) -> Settings:
    return load_settings(
        {
            "BRIDGE_AUTH_TOKENS": "reconciler-token-00000001",
            "BRIDGE_SPOOL_DIR": str(tmp_path / "spool"),
            "BRIDGE_ARGOS_API_KEYS": API_KEY,
            "BRIDGE_ARGOS_API_URL": argos.url,
            "BRIDGE_RECONCILE_INTERVAL_S": "0.05",
            "BRIDGE_RECONCILE_LOOKBACK_DAYS": "0",
        }
    )


def _state_of_another_replica(subject: str) -> Record:
    """The state record another replica published after the webhook of this result."""
    state = CurrentState(
        subject=subject,
        project="default",
        status="approved",
        status_time=order_key(DECIDED.isoformat()),
        event_id="0190d6b2-9e1c-8a3e-8f00-000000000001",
        event_type="kyc.approved",
        channel="webhook",
        updated_at=DECIDED.isoformat(),
    )
    return Record(subject.encode(), state.to_json())


@contextlib.asynccontextmanager
async def _reconciling(settings: Settings, publisher: MemoryPublisher) -> AsyncIterator[None]:
    """Run the periodic reconciler on an Ingest over `publisher` while the block runs."""
    async with running(settings, publisher) as ingest:
        reconciler = Reconciler(settings, ingest, FACTORY, Metrics())
        task = asyncio.create_task(reconciler.run_forever())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture(name="argos")
async def _argos() -> AsyncIterator[FakeArgos]:
    """The fake API with one submission approved at DECIDED (created today)."""
    async with FakeArgos(API_KEY) as argos:
        created = DECIDED - timedelta(minutes=2)
        argos.put(Submission("sub-known", created).with_result("approved", at=DECIDED))
        yield argos


async def test_the_periodic_reconciler_waits_until_the_state_topic_is_read(
    tmp_path: Path, argos: FakeArgos
) -> None:
    """
    A fresh replica (empty spool) whose follower has not read the state topic yet sends no
    API request; once it has, the result another replica published is not published again.
    """
    publisher = GatedPublisher()
    publisher.log[(STATE, 0)].append(_state_of_another_replica("sub-known"))
    async with _reconciling(_settings(tmp_path, argos), publisher):
        await asyncio.sleep(0.3)
        assert 0 == len(argos.request_log)
        publisher.gate.set()
        async with asyncio.timeout(10):
            while len(argos.request_log) < 2:  # two runs after the catch-up
                await asyncio.sleep(0.02)
    assert [] == publisher.records(EVENTS)


async def test_each_run_logs_the_walk_and_what_it_published_once_per_project(
    tmp_path: Path, argos: FakeArgos
) -> None:
    """One `reconcile.finished` (with its outcome) and one `reconcile.published` per project."""
    publisher = MemoryPublisher(partitions=1)
    settings = _settings(tmp_path, argos)
    async with running(settings, publisher) as ingest:
        with capture_logs() as logs:
            summary = await Reconciler(settings, ingest, FACTORY, Metrics()).run_once()
    assert (1, 1, 1) == (summary.checked, summary.missing, summary.published)
    finished = [e for e in logs if e["event"] == "reconcile.finished"]
    assert ["ok"] == [e["outcome"] for e in finished]
    published = [e for e in logs if e["event"] == "reconcile.published"]
    expected = {
        "project": "default",
        "outcome": "ok",
        "checked": 1,
        "missing": 1,
        "published": 1,
        "dry_run": False,
    }
    assert [expected] == [
        {k: v for k, v in e.items() if k not in ("event", "log_level")} for e in published
    ]
    events = [orjson.loads(r.value or b"{}") for r in publisher.records(EVENTS)]
    assert [("sub-known", "reconcile")] == [(e["subject"], e["source"]["channel"]) for e in events]


class SlowFetchPublisher(MemoryPublisher):
    """Its readers' first reads come back empty although the topic has records (slow fetch)."""

    def __init__(self, empty_reads: int) -> None:
        super().__init__(partitions=1)
        self.empty_reads = empty_reads

    def reader(self, topic: str) -> MemoryReader:
        publisher = self

        class Reader(MemoryReader):
            async def read(self, timeout_s: float) -> list[ReadRecord]:
                if publisher.empty_reads > 0:
                    publisher.empty_reads -= 1
                    await asyncio.sleep(0.05)
                    return []
                return await super().read(timeout_s)

        return Reader(self, topic)


async def test_an_empty_read_before_the_end_of_the_state_topic_is_not_caught_up(
    tmp_path: Path, argos: FakeArgos
) -> None:
    """
    The state follower's first fetches come back empty (slow cluster): the reconciler still
    waits until the topic is read to its end, so a known result is not published again.
    """
    publisher = SlowFetchPublisher(empty_reads=5)
    publisher.log[(STATE, 0)].append(_state_of_another_replica("sub-known"))
    async with _reconciling(_settings(tmp_path, argos), publisher):
        async with asyncio.timeout(10):
            while len(argos.request_log) < 2:  # two runs once the state is read
                await asyncio.sleep(0.02)
    assert 0 == publisher.empty_reads
    assert [] == publisher.records(EVENTS)


async def test_the_last_success_waits_for_every_project(tmp_path: Path, argos: FakeArgos) -> None:
    """
    Two projects, one whose API key ARGOS refuses: each run is `failed` for it, and the
    last-success time does not move (an alert on it fires); the CLI summary names outcomes.
    """
    config = tmp_path / "projects.toml"
    config.write_text(
        '[projects.korea]\ntokens = ["korea-token-000000000001"]\n'
        f'api_keys = ["revoked-api-key-0001"]\napi_url = "{argos.url}"\n'
    )
    settings = load_settings(
        {
            "BRIDGE_AUTH_TOKENS": "reconciler-token-00000001",
            "BRIDGE_SPOOL_DIR": str(tmp_path / "spool"),
            "BRIDGE_ARGOS_API_KEYS": API_KEY,
            "BRIDGE_ARGOS_API_URL": argos.url,
            "BRIDGE_RECONCILE_LOOKBACK_DAYS": "0",
            "BRIDGE_CONFIG_FILE": str(config),
        }
    )
    metrics = Metrics()
    async with running(settings, MemoryPublisher(partitions=1)) as ingest:
        summary = await Reconciler(settings, ingest, FACTORY, metrics).run_once()
    projects = summary.as_dict()["projects"]
    assert isinstance(projects, dict)
    assert {"default": "ok", "korea": "failed"} == {n: p["outcome"] for n, p in projects.items()}
    assert not summary.complete
    last = metrics.registry.get_sample_value("kyc_bridge_reconcile_last_success_timestamp_seconds")
    assert 0 == last
