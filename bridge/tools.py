"""Operator tools behind the CLI: spool status and drain, ARGOS encrypt/decrypt."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time

import orjson

from bridge import crypto
from bridge.config import Settings
from bridge.errors import DecryptionError
from bridge.ingest import Ingest
from bridge.metrics import Metrics
from bridge.publish.kafka import KafkaPublisher
from bridge.spool import Spool

__all__ = ["argos_crypt", "spool_drain", "spool_status"]


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


def argos_crypt(action: str, api_key: str) -> int:
    """Encrypt stdin into an ARGOS `{"data": ...}` body, or decrypt one (or bare base64)."""
    if not api_key:
        print("kyc-bridge: --api-key or BRIDGE_ARGOS_API_KEY is required", file=sys.stderr)
        return 2
    data = sys.stdin.buffer.read()
    if action == "encrypt":
        sys.stdout.write(orjson.dumps({"data": crypto.encrypt(data.strip(), api_key)}).decode())
        sys.stdout.write("\n")
        return 0
    try:
        envelope = orjson.loads(data)
        ciphertext = envelope["data"] if isinstance(envelope, dict) else data
    except orjson.JSONDecodeError:
        ciphertext = data
    try:
        sys.stdout.buffer.write(crypto.decrypt(ciphertext, [api_key]) + b"\n")
    except DecryptionError as exc:
        print(f"kyc-bridge: {exc.message}", file=sys.stderr)
        return 1
    return 0
