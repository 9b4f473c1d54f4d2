"""`kyc-bridge spool status|drain`: inspect the durable spool, or publish its backlog."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import orjson

from bridge.config import Settings
from bridge.delivery.ingest import Ingest
from bridge.delivery.spool import read_status
from bridge.metrics import Metrics
from bridge.publish.kafka import KafkaPublisher

__all__ = ["spool_drain", "spool_status"]


def spool_status(settings: Settings) -> int:
    """
    Print pending events, bytes, the oldest entry's age, the dedup window and the
    volume's free space as JSON (read-only).

    Raises:
        SpoolUnavailableError: there is no spool in BRIDGE_SPOOL_DIR.
    """
    status = read_status(settings.spool.directory)
    print(orjson.dumps(dataclasses.asdict(status)).decode())
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
        ingest.gate.close(10.0)
        await ingest.stop()
    print(orjson.dumps({"remaining": remaining}).decode())
    return 0 if remaining == 0 else 1


def spool_drain(settings: Settings, *, timeout_s: float) -> int:
    """
    Publish the spool's backlog in order; exit 1 if anything is left after `timeout_s`.

    Raises:
        SpoolUnavailableError: there is no spool in BRIDGE_SPOOL_DIR (none is created).
    """
    read_status(settings.spool.directory)
    return asyncio.run(_drain(settings, timeout_s))
