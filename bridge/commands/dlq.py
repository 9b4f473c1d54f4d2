"""
`kyc-bridge dlq replay`: read dead letters, run their original bodies through
the current decoding and normalization, publish what now succeeds.

Replayed events keep their deterministic event id, so consumers that dedupe on
`ce_id` are safe even if a record is replayed twice.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bridge.config import Settings
from bridge.decode import draft_from_body
from bridge.errors import BridgeError
from bridge.events import EventFactory
from bridge.publish.kafka import KafkaPublisher, client_options, translate_kafka_errors
from bridge.schemas import load_registry

__all__ = ["ReplaySummary", "replay_dlq"]


@dataclass
class ReplaySummary:
    """What a replay did: counts by outcome and by failure reason."""

    read: int = 0
    replayed: int = 0
    failed: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {"read": self.read, "replayed": self.replayed, "failed": dict(self.failed)}


def _original(value: bytes) -> tuple[str | None, bytes, str, datetime]:
    """Return (project, body, content type, received at) of a dead-letter record."""
    envelope = orjson.loads(value)
    data = envelope["data"]
    body = base64.b64decode(data["body_b64"], validate=True)
    received = datetime.fromisoformat(str(envelope["received_at"]).replace("Z", "+00:00"))
    project = envelope.get("source", {}).get("project")
    return project, body, str(data.get("content_type", "")).split(";")[0].strip(), received


async def replay_dlq(
    settings: Settings, *, limit: int | None = None, dry_run: bool = False, out: TextIO = sys.stderr
) -> ReplaySummary:
    """Replay the DLQ topic from its beginning up to its current end (or `limit` records)."""
    publisher = KafkaPublisher(settings.kafka)
    consumer = AIOKafkaConsumer(
        settings.dlq_topic,
        group_id=None,  # no group: all partitions are assigned, nothing is committed
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=1000,
        **client_options(settings.kafka),
    )
    summary = ReplaySummary()
    replayer = _Replayer(settings, publisher, summary, dry_run=dry_run)
    with translate_kafka_errors():
        await consumer.start()
    try:
        assigned: list[TopicPartition] = []
        for _ in range(50):  # the assignment appears once topic metadata has arrived
            assigned = sorted(consumer.assignment())
            if assigned:
                break
            await asyncio.sleep(0.2)
        if not assigned:
            return summary
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        total = sum(ends.values())
        if limit is not None:
            total = min(total, limit)
        positions = dict.fromkeys(assigned, 0)
        while summary.read < total and any(positions[tp] < ends[tp] for tp in assigned):
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    positions[tp] = record.offset + 1
                    if summary.read >= total or record.offset >= ends[tp]:
                        continue
                    summary.read += 1
                    await replayer.replay(record.value or b"")
                    out.write(f"\rreplaying {summary.read}/{total}  ok={summary.replayed}")
                    out.flush()
        out.write("\n")
    finally:
        await consumer.stop()
        await publisher.stop()
    return summary


class _Replayer:
    """Decode, normalize and publish one dead letter at a time, counting outcomes."""

    def __init__(
        self,
        settings: Settings,
        publisher: KafkaPublisher,
        summary: ReplaySummary,
        *,
        dry_run: bool,
    ) -> None:
        self._settings = settings
        self._projects = {p.name: p for p in settings.projects}
        self._factory = EventFactory(load_registry())
        self._publisher = publisher
        self._summary = summary
        self._dry_run = dry_run

    async def replay(self, value: bytes) -> None:
        summary = self._summary
        try:
            project_name, body, _, received_at = _original(value)
        except (KeyError, ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
            summary.failed["unreadable_dead_letter"] += 1
            return
        project = self._projects.get(project_name or "")
        if project is None:
            summary.failed["unknown_project"] += 1
            return
        try:
            draft, _ = draft_from_body(
                body,
                project=project,
                factory=self._factory,
                received_at=received_at,
            )
            event = self._factory.finish(draft)
            if not self._dry_run:
                topic = self._settings.topic_for(project)
                partition = await self._publisher.partition_for(topic, event.record.key, wait_s=10)
                await self._publisher.publish(topic, partition, [event.record])
        except BridgeError as exc:
            summary.failed[exc.code] += 1
            return
        summary.replayed += 1
