"""A started `Ingest` on an in-memory publisher, shared by the delivery tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from bridge.config import Settings
from bridge.delivery.ingest import Ingest
from bridge.events import EventFactory
from bridge.metrics import Metrics
from bridge.pii import KeyEncryptionKey
from bridge.publish.memory import MemoryPublisher
from bridge.schemas import load_registry
from bridge.types import JSONObject

FACTORY = EventFactory(load_registry())
RECEIVED = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
EVENTS = "kyc.events.v1"


@asynccontextmanager
async def running(
    settings: Settings, publisher: MemoryPublisher, *, kek: KeyEncryptionKey | None = None
) -> AsyncIterator[Ingest]:
    """Start the publisher and an `Ingest` on it; close the gate and stop it on exit."""
    ingest = Ingest(settings, publisher, Metrics(), factory=FACTORY, kek=kek)
    await publisher.start()
    await ingest.start()
    try:
        yield ingest
    finally:
        ingest.gate.close(1.0)
        await ingest.stop()


async def accept(ingest: Ingest, payload: JSONObject, topic: str = EVENTS) -> None:
    """Accept one clear ARGOS payload as if it had arrived at RECEIVED."""
    draft = FACTORY.draft(payload, project="default", received_at=RECEIVED, encrypted=False)
    await ingest.accept(draft, topic, deadline=asyncio.get_running_loop().time() + 2)
