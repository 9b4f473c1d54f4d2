"""
The shutdown gate: admits or refuses work, counts work in flight, and holds
the one shutdown deadline. Webhooks enter through `admit`; everything that
shuts down asks `remaining` how much of the grace period is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator

from bridge.errors import OverloadedError, ShuttingDownError

__all__ = ["Gate"]


class Gate:
    """Admission control and the shutdown deadline; see the module docstring."""

    def __init__(self, max_in_flight: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._max = max_in_flight
        self._clock = clock
        self._in_flight = 0
        self._deadline: float | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def closing(self) -> bool:
        """Whether shutdown has begun (no new work is admitted)."""
        return self._deadline is not None

    @property
    def in_flight(self) -> int:
        """Work admitted and not yet finished."""
        return self._in_flight

    def close(self, grace_s: float) -> None:
        """Refuse new work from now on; shutdown must finish within `grace_s` seconds."""
        if self._deadline is None:
            self._deadline = self._clock() + grace_s

    def remaining(self, default: float) -> float:
        """Seconds left until the shutdown deadline (`default` if shutdown has not begun)."""
        if self._deadline is None:
            return default
        return max(0.0, self._deadline - self._clock())

    def check(self) -> None:
        """
        Raise unless new work may start.

        Raises:
            ShuttingDownError: shutdown has begun.
        """
        if self._deadline is not None:
            raise ShuttingDownError("shutting down")

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """
        Count one piece of work in flight for the duration of the block.

        Raises:
            ShuttingDownError: shutdown has begun.
            OverloadedError: the concurrency cap is reached.
        """
        self.check()
        if self._in_flight >= self._max:
            raise OverloadedError("too many concurrent requests")
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def drained(self, timeout_s: float) -> bool:
        """Wait until no work is in flight, at most `timeout_s` seconds; return whether it is."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        return not self._in_flight
