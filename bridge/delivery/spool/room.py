"""
How much room the spool's volume has, measured only when the answer could matter.

Measuring (`statvfs` plus a `PRAGMA freelist_count`) on every group commit cost
the writer thread about as much as the inserts themselves. `FreeSpace` measures
again when the last figure is older than `max_age_s`, when the room above the
reserve is not larger than the reserve itself, or when what the spool wrote
since could have used up half of that room (counting each row's bytes
`amplification` times: WAL frames, table and index pages, checkpoint). Within
one reserve of the limit that is every group, so the refusal point is exactly
where it was; farther away the figure is at most `max_age_s` old, which also
bounds how late the spool notices another process filling the volume (it would
have to write a whole reserve, 32 MiB by default, in that time to get past it).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["FreeSpace"]


class FreeSpace:
    """Free bytes for new records on the spool's volume; used by the writer thread only."""

    def __init__(
        self,
        directory: Path,
        reserve: int,
        *,
        max_age_s: float = 0.25,
        amplification: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._reserve = reserve
        self._max_age = max_age_s
        self._amplification = amplification
        self._clock = clock
        self._page_size = 0  # fixed once the database exists
        self._free = 0
        self._measured_at: float | None = None
        self._written = 0  # record bytes written since the last measurement

    def measure(self, conn: sqlite3.Connection) -> int:
        """
        Measure now: the volume's free bytes plus the pages the database can reuse.

        Raises:
            OSError: the volume cannot be queried.
            sqlite3.Error: the database cannot be queried.
        """
        self._measured_at = None  # a failed measurement is retried by the next group
        stats = os.statvfs(self._directory)
        (pages,) = conn.execute("PRAGMA freelist_count").fetchone()
        if not self._page_size:
            (page_size,) = conn.execute("PRAGMA page_size").fetchone()
            self._page_size = int(page_size)
        self._free = stats.f_bavail * stats.f_frsize + int(pages) * self._page_size
        self._measured_at = self._clock()
        self._written = 0
        return self._free

    def before_group(self, conn: sqlite3.Connection, writing: int) -> int:
        """
        Free bytes to judge a group that writes `writing` record bytes: the last
        figure while it is safe to use (see the module docstring), else a new one.

        Raises:
            OSError: the volume cannot be queried.
            sqlite3.Error: the database cannot be queried.
        """
        written = self._written + writing
        room = self._free - self._reserve
        if (
            self._measured_at is not None
            and room > self._reserve
            and self._clock() - self._measured_at < self._max_age
            and written * self._amplification * 2 < room
        ):
            self._written = written
            return self._free
        free = self.measure(conn)
        self._written = writing  # written after this measurement
        return free
