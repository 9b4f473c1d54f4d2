"""
Followers of the compacted topics every replica shares, so that replicas agree:

- the keys topic: data keys other replicas created (kept in the spool's keys
  table, so this replica can erase them too) and tombstones (the data key is
  erased: forget it, never encrypt with it again);
- the state topic: the current state other replicas published (kept in the
  state table, so staleness is judged against every replica's results); when
  the topic shows a state older than the one this replica holds (two replicas
  published out of order), this replica publishes its newer state again, so
  the topic's last value is always the newest.

Each follower reads from the positions it stored in the spool (in the same
transaction as what it read) and runs as a supervised background task.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from bridge.delivery.datakeys import DataKeys
from bridge.delivery.spool import KeyRow, Spool, StateRow
from bridge.errors import PublishError
from bridge.pii import KeyTombstone, parse_key_record
from bridge.pii.errors import KeyRecordError
from bridge.publish import Publisher, ReadRecord
from bridge.state import CurrentState

__all__ = ["follow_keys", "follow_state"]

log = structlog.get_logger("bridge.followers")

#: Publish this replica's state value again (the topic showed an older one).
RepublishHook = Callable[[bytes], Awaitable[None]]

_POLL_S = 1.0


def _cursors(topic: str, records: list[ReadRecord]) -> list[tuple[str, int, int]]:
    last: dict[int, int] = {}
    for record in records:
        last[record.partition] = max(last.get(record.partition, -1), record.offset)
    return [(topic, partition, offset + 1) for partition, offset in last.items()]


async def follow_keys(publisher: Publisher, spool: Spool, keys: DataKeys) -> None:
    """Follow the keys topic forever (see the module docstring)."""
    topic = keys.topic
    reader = publisher.reader(topic)
    await reader.start(spool.side.cursors(topic))
    try:
        while True:
            try:
                records = await reader.read(_POLL_S)
            except PublishError:
                continue  # the probe reports the outage; keep trying
            if not records:
                continue
            rows: list[KeyRow] = []
            for record in records:
                try:
                    parsed = parse_key_record(record.key, record.value)
                except KeyRecordError:
                    log.warning("keys.skipped_record", partition=record.partition)
                    continue
                if isinstance(parsed, KeyTombstone):
                    keys.forget(parsed.subject, parsed.kid)
                    rows.append(KeyRow(parsed.kid, parsed.subject, b"", erased=True))
                elif record.value is not None:
                    rows.append(KeyRow(parsed.kid, parsed.subject, record.value))
            await spool.follow(keys=rows, cursors=_cursors(topic, records))
    finally:
        await reader.stop()


async def follow_state(
    publisher: Publisher,
    spool: Spool,
    topic: str,
    *,
    republish: RepublishHook,
    on_state: Callable[[str], None],
    on_idle: Callable[[], None] = lambda: None,
) -> None:
    """Follow the state topic forever (see the module docstring)."""
    reader = publisher.reader(topic)
    await reader.start(spool.side.cursors(topic))
    try:
        while True:
            try:
                records = await reader.read(_POLL_S)
            except PublishError:
                continue
            if not records:
                on_idle()  # read to the end (for now)
                continue
            rows: list[StateRow] = []
            regressed: list[bytes] = []
            for record in records:
                if record.value is None:
                    continue
                try:
                    state = CurrentState.from_json(record.value)
                except (ValueError, KeyError):
                    log.warning("state.skipped_record", partition=record.partition)
                    continue
                rows.append(StateRow(state.subject, state.status_time, record.value))
                mine = spool.side.state(state.subject)
                if mine is not None and _newer(mine, state):
                    regressed.append(mine)
            await spool.follow(states=rows, cursors=_cursors(topic, records))
            for row in rows:
                on_state(row.subject)  # the cached state may be older now
            for value in regressed:
                await republish(value)
    finally:
        await reader.stop()


def _newer(mine: bytes, seen: CurrentState) -> bool:
    try:
        own = CurrentState.from_json(mine)
    except (ValueError, KeyError):
        return False
    return (own.status_time or "") > (seen.status_time or "")
