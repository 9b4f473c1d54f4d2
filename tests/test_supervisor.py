"""Supervision of background tasks: restarts with backoff that starts over for a new fault."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter

from bridge.supervisor import Supervisor


def _supervisor() -> Supervisor:
    restarts = Counter("restarts", "test", ["task"], registry=CollectorRegistry())
    return Supervisor(restarts, min_backoff_s=0.1, max_backoff_s=30.0)


def test_backoff_doubles_while_a_task_keeps_crashing_at_once() -> None:
    """Crash after crash the wait doubles, up to the longest backoff."""
    supervisor = _supervisor()
    waits, backoff = [], 0.1
    for _ in range(12):
        wait, backoff = supervisor.backoff(backoff, ran_s=0.0)
        waits.append(wait)
    assert [0.1, 0.2, 0.4, 0.8, 1.6] == waits[:5]
    assert 30.0 == waits[-1]


def test_backoff_starts_over_after_a_run_longer_than_the_longest_backoff() -> None:
    """A task that ran well for a while and crashes again waits the shortest backoff."""
    supervisor = _supervisor()
    assert (0.1, 0.2) == supervisor.backoff(30.0, ran_s=31.0)
    assert (30.0, 30.0) == supervisor.backoff(30.0, ran_s=29.0)


async def test_a_crashing_task_is_restarted_and_counted() -> None:
    """Each crash is counted and the task runs again until it returns."""
    registry = CollectorRegistry()
    restarts = Counter("restarts", "test", ["task"], registry=registry)
    supervisor = Supervisor(restarts, min_backoff_s=0.01, max_backoff_s=0.05)
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise RuntimeError("boom")

    supervisor.spawn("flaky", flaky)
    async with asyncio.timeout(5):
        while supervisor.running("flaky"):
            await asyncio.sleep(0.01)
    assert 3 == len(runs)
    assert 2 == registry.get_sample_value("restarts_total", {"task": "flaky"})
    await supervisor.stop()
