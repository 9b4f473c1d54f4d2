"""
The loss check (every 2xx-acknowledged event id must be on the topic, found
by its `ce_id` header) and the spool drain watch that precedes it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bench.procs import Server, say
from bridge.types import JSONObject, JSONValue

__all__ = ["drain_summary", "loss_check", "topic_ids", "wait_drained"]


async def topic_ids(bootstrap: str, topic: str, timeout_s: float = 120.0) -> Counter[str]:
    """
    Count every record's `ce_id` header on `topic`, read from the start to its current end.

    Raises:
        RuntimeError: reading took longer than `timeout_s`.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,  # no group: every partition is assigned, nothing is committed
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=64 * 2**20,
        max_partition_fetch_bytes=16 * 2**20,
    )
    await consumer.start()
    found: Counter[str] = Counter()
    try:
        for _ in range(100):
            if consumer.assignment():
                break
            await asyncio.sleep(0.1)
        parts = list(consumer.assignment())
        ends: dict[TopicPartition, int] = await consumer.end_offsets(parts)
        deadline = time.monotonic() + timeout_s

        async def behind() -> bool:
            for tp, end in ends.items():
                if await consumer.position(tp) < end:
                    return True
            return False

        while await behind():
            if time.monotonic() > deadline:
                raise RuntimeError(f"reading {topic} back took more than {timeout_s:g} s")
            batches = await consumer.getmany(timeout_ms=500, max_records=20_000)
            for records in batches.values():
                for record in records:
                    headers = dict(record.headers)
                    found[bytes(headers.get("ce_id", b"")).decode()] += 1
    finally:
        await consumer.stop()
    return found


def wait_drained(server: Server, timeout: float) -> list[tuple[float, int]]:
    """Poll the spool until it is empty; return the (seconds, pending events) timeline."""
    started, timeline = time.monotonic(), []
    while time.monotonic() - started < timeout:
        spool = server.spool()
        if spool is not None:
            timeline.append((round(time.monotonic() - started, 2), spool[0]))
            if spool[0] == 0:
                break
        time.sleep(0.25)
    return timeline


def drain_summary(timeline: list[tuple[float, int]], pending: int) -> JSONObject:
    """Summarize a drain timeline: drained?, seconds until empty, events/s from the first drop."""
    drained = bool(timeline) and timeline[-1][1] == 0
    moving = [t for t, n in timeline if n < pending] or [0.0]
    seconds = timeline[-1][0] - moving[0] if drained and len(timeline) > 1 else None
    return {
        "spooled_events": pending,
        "drained": drained,
        "seconds_until_empty": timeline[-1][0] if timeline else None,
        "drain_rate_eps": round(pending / seconds, 1) if seconds else None,
    }


def loss_check(bootstrap: str, topic: str, ids_file: Path) -> JSONObject:
    """Check that every acknowledged event id in `ids_file` is on `topic`."""
    acked = set(ids_file.read_text().split())
    timeout = max(120.0, len(acked) / 2000)
    on_topic = asyncio.run(topic_ids(bootstrap, topic, timeout))
    missing = acked - on_topic.keys()
    duplicates = sum(n - 1 for n in on_topic.values() if n > 1)
    status = "PASS" if not missing else "FAIL"
    sample: list[JSONValue] = []
    sample.extend(sorted(missing)[:10])
    say(f"loss check {topic}: {status} ({len(acked)} acked, {len(on_topic)} on topic)")
    return {
        "status": status,
        "acked": len(acked),
        "records_on_topic": sum(on_topic.values()),
        "distinct_on_topic": len(on_topic),
        "missing": len(missing),
        "missing_sample": sample,
        "duplicates": duplicates,
    }
