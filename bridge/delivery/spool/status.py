"""`kyc-bridge spool status`: the spool's figures, read without taking it over."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from bridge.delivery.spool.store import database_path
from bridge.errors import SpoolUnavailableError

__all__ = ["SpoolStatus", "read_status"]


@dataclass(frozen=True, slots=True)
class SpoolStatus:
    """Pending records, their bytes and age, the dedup window and the volume's free space."""

    path: str
    events: int
    bytes: int
    oldest_age_s: float | None
    by_topic: dict[str, int]
    delivered_entries: int
    free_bytes: int


def read_status(directory: Path, *, now: float | None = None) -> SpoolStatus:
    """
    Read the spool in `directory` read-only (safe while the bridge serves).

    Raises:
        SpoolUnavailableError: there is no spool there, or it cannot be read.
    """
    path = database_path(directory)
    if not path.is_file():
        raise SpoolUnavailableError(
            f"no spool at {path} (is BRIDGE_SPOOL_DIR the bridge's spool directory?)"
        )
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            events, size, oldest = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(accepted_at) FROM events"
            ).fetchone()
            by_topic = {
                str(t): int(n)
                for t, n in conn.execute("SELECT topic, COUNT(*) FROM events GROUP BY topic")
            }
            (delivered,) = conn.execute("SELECT COUNT(*) FROM delivered").fetchone()
        stats = os.statvfs(directory)
    except (sqlite3.Error, OSError) as exc:
        raise SpoolUnavailableError(f"cannot read the spool at {path}: {exc}") from None
    moment = time.time() if now is None else now
    return SpoolStatus(
        path=str(path),
        events=int(events),
        bytes=int(size),
        oldest_age_s=round(moment - oldest, 3) if oldest else None,
        by_topic=by_topic,
        delivered_entries=int(delivered),
        free_bytes=stats.f_bavail * stats.f_frsize,
    )
