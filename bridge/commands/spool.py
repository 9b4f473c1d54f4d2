"""`kyc-bridge spool status|drain`: inspect the durable spool, or publish its backlog."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import orjson

from bridge.config import Settings
from bridge.delivery.ingest import Ingest
from bridge.delivery.spool import Spool
from bridge.metrics import Metrics
from bridge.publish.kafka import KafkaPublisher

__all__ = ["spool_drain", "spool_status"]


def spool_status(settings: Settings) -> int:
    """Print pending events, bytes and the oldest entry's age as JSON (read-only)."""
    path = Spool(settings.spool).path
    if not path.exists():
        print(orjson.dumps({"path": str(path), "events": 0, "bytes": 0}).decode())
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        events, size, oldest = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(accepted_at) FROM events"
        ).fetchone()
        by_topic = dict(conn.execute("SELECT topic, COUNT(*) FROM events GROUP BY topic"))
    report = {
        "path": str(path),
        "events": events,
        "bytes": size,
        "oldest_age_s": round(time.time() - oldest, 3) if oldest else None,
        "by_topic": by_topic,
    }
    print(orjson.dumps(report).decode())
    return 0


async def _drain(settings: Settings, timeout_s: float) -> int:
    ingest = Ingest(settings, KafkaPublisher(settings.kafka), Metrics())
    await ingest.start()
    start = time.monotonic()
    try:
        while ingest.spool.events and time.monotonic() - start < timeout_s:
            await asyncio.sleep(0.2)
    finally:
        remaining = ingest.spool.events
        await ingest.stop(grace_s=10)
    print(orjson.dumps({"remaining": remaining}).decode())
    return 0 if remaining == 0 else 1


def spool_drain(settings: Settings, *, timeout_s: float) -> int:
    """Publish the spool's backlog in order; exit 1 if anything is left after `timeout_s`."""
    return asyncio.run(_drain(settings, timeout_s))
