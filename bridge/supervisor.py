"""
Supervision of long-lived background tasks. A task that raises is logged
(its exception type and where it was raised, never the message, which could
carry payload data), counted in `kyc_bridge_task_restarts_total{task}` and
restarted with exponential backoff (back to the shortest once a run lasted
longer than the longest backoff). `stop` cancels every task and never raises,
so shutdown always reaches the resources behind them.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import Counter

__all__ = ["Supervisor"]

log = structlog.get_logger("bridge.supervisor")


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "unknown"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}"


class Supervisor:
    """Runs named background tasks and restarts them when they crash."""

    def __init__(
        self, restarts: Counter, *, min_backoff_s: float = 0.1, max_backoff_s: float = 30.0
    ) -> None:
        self._restarts = restarts
        self._min = min_backoff_s
        self._max = max_backoff_s
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def crashed(self, task: str, error: BaseException) -> None:
        """Log and count a crash of `task` (also for crashes handled inside a task)."""
        log.error("task.crashed", task=task, error=type(error).__name__, where=_where(error))
        self._restarts.labels(task).inc()

    def spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run `run()` as task `name`, restarting it whenever it raises; a return ends it."""
        self._tasks[name] = asyncio.create_task(self._keep(name, run), name=name)

    async def _keep(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        backoff = self._min
        while True:
            started = asyncio.get_running_loop().time()
            try:
                await run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.crashed(name, exc)
                ran_s = asyncio.get_running_loop().time() - started
                wait, backoff = self.backoff(backoff, ran_s)
                await asyncio.sleep(wait)
                continue
            return

    def backoff(self, current: float, ran_s: float) -> tuple[float, float]:
        """
        (wait now, next backoff) after a crash: doubling up to the longest, back to the
        shortest when the crashed run lasted longer than the longest (a new fault).
        """
        wait = self._min if ran_s > self._max else current
        return wait, min(wait * 2, self._max)

    def running(self, name: str) -> bool:
        """Whether task `name` exists and has not ended."""
        task = self._tasks.get(name)
        return task is not None and not task.done()

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Cancel every task and wait for them (never raises)."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                async with asyncio.timeout(timeout_s):
                    await task
