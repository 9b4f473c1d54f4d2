"""
Progress of long command-line runs on stderr: a progress bar (tqdm) when the
stream is a terminal, otherwise one plain line per interval, so that logs and
CI output stay readable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TextIO

from tqdm import tqdm

__all__ = ["BarProgress", "LineProgress", "Progress", "progress_for"]

Clock = Callable[[], float]


class Progress(Protocol):
    """Shows how far a run of `total` items is."""

    def advance(self, count: int, status: str) -> None:
        """Record `count` more items done; `status` is a short summary (e.g. counts)."""

    def close(self) -> None:
        """Show the final state and release the display."""


class BarProgress:
    """A tqdm bar on a terminal."""

    def __init__(self, stream: TextIO, total: int, *, label: str, unit: str) -> None:
        self._bar = tqdm(total=total, file=stream, desc=label, unit=f" {unit}", dynamic_ncols=True)

    def advance(self, count: int, status: str) -> None:
        self._bar.set_postfix_str(status, refresh=False)
        self._bar.update(count)

    def close(self) -> None:
        self._bar.close()


class LineProgress:
    """`label: done/total status` lines, at most one per `interval_s`, and one at the end."""

    def __init__(
        self,
        stream: TextIO,
        total: int,
        *,
        label: str,
        interval_s: float = 5.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._stream = stream
        self._total = total
        self._label = label
        self._interval_s = interval_s
        self._clock = clock
        self._done = 0
        self._status = ""
        self._shown_at = clock()
        self._shown: tuple[int, str] | None = None

    def advance(self, count: int, status: str) -> None:
        self._done += count
        self._status = status
        if self._clock() - self._shown_at >= self._interval_s:
            self._show()

    def close(self) -> None:
        if self._shown != (self._done, self._status):
            self._show()

    def _show(self) -> None:
        status = f" {self._status}" if self._status else ""
        self._stream.write(f"{self._label}: {self._done}/{self._total}{status}\n")
        self._stream.flush()
        self._shown_at = self._clock()
        self._shown = (self._done, self._status)


def progress_for(stream: TextIO, total: int, *, label: str, unit: str) -> Progress:
    """Return a bar when `stream` is a terminal, else periodic lines."""
    if stream.isatty():
        return BarProgress(stream, total, label=label, unit=unit)
    return LineProgress(stream, total, label=label)
