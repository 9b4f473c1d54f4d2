"""
The dedup window: event ids that Kafka has acknowledged in the last
`window_s` seconds. An id enters only after the acknowledgement, never
before, so a failed publish can never be suppressed as a "duplicate".
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

__all__ = ["DedupWindow"]


class DedupWindow:
    """Bounded, time-limited set of delivered event ids (oldest evicted first)."""

    def __init__(
        self, window_s: float, max_entries: int, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._window = window_s
        self._max = max_entries
        self._clock = clock
        self._ids: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, event_id: object) -> bool:
        acked_at = self._ids.get(event_id) if isinstance(event_id, str) else None
        return acked_at is not None and acked_at >= self._clock() - self._window

    def add(self, event_id: str, acked_at: float) -> None:
        """Remember that Kafka acknowledged `event_id` at `acked_at`."""
        if self._max <= 0 or self._window <= 0:
            return
        self._ids[event_id] = acked_at
        self._ids.move_to_end(event_id)
        self._evict()

    def load(self, entries: Iterable[tuple[str, float]]) -> None:
        """Restore deliveries remembered by the spool (oldest first)."""
        for event_id, acked_at in entries:
            self.add(event_id, acked_at)

    def _evict(self) -> None:
        horizon = self._clock() - self._window
        while self._ids:
            oldest_id, oldest_at = next(iter(self._ids.items()))
            if len(self._ids) <= self._max and oldest_at >= horizon:
                break
            del self._ids[oldest_id]
