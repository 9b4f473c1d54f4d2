"""
Followers of the compacted topics every replica shares, so that replicas agree:

- the keys topic: data keys other replicas created (kept in the spool's keys
  table, so this replica can erase them too) and tombstones (the data key is
  erased: forget it, never encrypt with it again). A tombstone erases its
  subject up to its `kyc_erased_at`: every key of the subject this replica
  holds that was created before then is erased too, with a tombstone of its own
  (a key this replica created but had not published when another replica or
  `pii erase` erased the subject would otherwise outlive the erasure). The
  erasure time is kept (the spool's erasures table), so a key record of the
  subject read later, created before it, is erased as well (its creator may be
  gone for good);
- the state topic: the current state other replicas published (kept in the
  state table, so staleness is judged against every replica's results); when
  the topic shows a state older than the one this replica holds (two replicas
  published out of order), this replica publishes its newer state again, so
  the topic's last value is always the newest.

Each follower reads from the positions it stored in the spool, in the same
transaction as what it read and the records its reading calls for (tombstones, a
state published again), so a crash or a full spool never keeps a position without
them; each runs as a supervised background task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from bridge.delivery.datakeys import DataKeys
from bridge.delivery.spool import Entry, KeyRow, Prerequisite, Spool, StateRow
from bridge.delivery.spool.ops import REPLICA_HEADER
from bridge.errors import PublishError
from bridge.pii import (
    KeyRecord,
    KeyTombstone,
    key_record_key,
    parse_key_record,
    tombstone_erased_at,
)
from bridge.pii.errors import KeyRecordError
from bridge.publish import Publisher, ReadRecord
from bridge.state import CurrentState

__all__ = ["follow_keys", "follow_state"]

log = structlog.get_logger("bridge.followers")

#: The record that publishes this replica's state value again (the topic showed an older
#: one); the follower appends it in the transaction that stores its position.
RepublishHook = Callable[[bytes], Entry]

_POLL_S = 1.0


def _cursors(topic: str, records: list[ReadRecord]) -> list[tuple[str, int, int]]:
    last: dict[int, int] = {}
    for record in records:
        last[record.partition] = max(last.get(record.partition, -1), record.offset)
    return [(topic, partition, offset + 1) for partition, offset in last.items()]


async def _follow(
    publisher: Publisher,
    spool: Spool,
    topic: str,
    handle: Callable[[list[ReadRecord]], Awaitable[None]],
    on_idle: Callable[[], None] = lambda: None,
) -> None:
    """Read `topic` forever from the spool's stored positions, one batch at a time.

    Read errors are retried every `_POLL_S` (the Kafka probe reports the outage); `on_idle` is
    called when a read finds nothing new and the reader has reached the end of every
    partition (an empty read alone may be a slow fetch or metadata not there yet).
    """
    reader = publisher.reader(topic)
    await reader.start(spool.side.cursors(topic))
    try:
        while True:
            try:
                records = await reader.read(_POLL_S)
                if not records and await reader.caught_up():
                    on_idle()
            except PublishError:
                await asyncio.sleep(_POLL_S)  # not a tight loop while the cluster is away
                continue
            if records:
                await handle(records)
    finally:
        await reader.stop()


async def follow_keys(publisher: Publisher, spool: Spool, keys: DataKeys) -> None:
    """Follow the keys topic forever (see the module docstring)."""

    async def handle(records: list[ReadRecord]) -> None:
        rows: list[KeyRow] = []
        erasures: dict[str, str] = {}  # subject -> the latest erasure time read
        for record in records:
            try:
                parsed = parse_key_record(record.key, record.value)
            except KeyRecordError:
                log.warning("keys.skipped_record", partition=record.partition)
                continue
            if isinstance(parsed, KeyTombstone):
                keys.erased(parsed.subject, (parsed.kid,))
                rows.append(KeyRow(parsed.kid, parsed.subject, b"", erased=True))
                erased_at = tombstone_erased_at(record.headers)
                if erased_at is not None:
                    erasures[parsed.subject] = max(erasures.get(parsed.subject, ""), erased_at)
            elif record.value is not None:
                rows.append(KeyRow(parsed.kid, parsed.subject, record.value))
        tombstones = _swept(keys, spool, rows, _due(spool, rows, erasures))
        rows += [KeyRow(kid, subject, b"", erased=True) for subject, kid, _ in tombstones]
        await spool.follow(
            keys=rows,
            cursors=_cursors(keys.topic, records),
            appends=[entry for _, _, entry in tombstones],
            erasures=list(erasures.items()),
        )
        if tombstones:
            log.info("keys.erased_with_subject", keys=len(tombstones))

    await _follow(publisher, spool, keys.topic, handle)


def _due(spool: Spool, read: list[KeyRow], erasures: dict[str, str]) -> dict[str, str]:
    """
    The time up to which each subject is swept: the latest erasure read in this batch or
    before it (stored), for the subjects erased in this batch or with a live key read in it.
    """
    due: dict[str, str] = {}
    for subject in {row.subject for row in read if not row.erased} | erasures.keys():
        times = [t for t in (erasures.get(subject), spool.side.erased_at(subject)) if t]
        if times:
            due[subject] = max(times)
    return due


def _swept(
    keys: DataKeys, spool: Spool, read: list[KeyRow], erasures: dict[str, str]
) -> list[tuple[str, str, Entry]]:
    """
    (subject, kid, tombstone) for every live key of an erased subject created before its
    erasure (an earlier millisecond), held in the keys table or read in this batch and
    not erased in it. A key this replica created waits for its own record.
    """
    swept: list[tuple[str, str, Entry]] = []
    for subject, erased_at in erasures.items():
        gone = {row.kid for row in read if row.subject == subject and row.erased}
        held = [row for row in spool.side.keys(subject) if not row.erased]
        held += [row for row in read if row.subject == subject and not row.erased]
        seen: set[str] = set()
        for row in held:
            if row.kid in gone or row.kid in seen or not _created_before(row, erased_at):
                continue
            seen.add(row.kid)
            after = Prerequisite(keys.topic, row.seq) if row.seq else None
            swept.append((subject, row.kid, keys.tombstone(subject, row.kid, erased_at, after)))
        if seen:
            keys.erased(subject, seen)
    return swept


def _created_before(row: KeyRow, erased_at: str) -> bool:
    try:
        parsed = parse_key_record(key_record_key(row.subject, row.kid), row.value)
    except KeyRecordError:
        return False
    return isinstance(parsed, KeyRecord) and parsed.created_at < erased_at


async def follow_state(
    publisher: Publisher,
    spool: Spool,
    topic: str,
    *,
    republish: RepublishHook,
    on_idle: Callable[[], None] = lambda: None,
    replica: bytes = b"",
) -> None:
    """Follow the state topic forever (see the module docstring)."""

    async def handle(records: list[ReadRecord]) -> None:
        rows: list[StateRow] = []
        regressed: list[bytes] = []
        for record in records:
            if record.value is None or (replica and (REPLICA_HEADER, replica) in record.headers):
                continue  # a tombstone, or our own record read back
            try:
                state = CurrentState.from_json(record.value)
            except (ValueError, KeyError):
                log.warning("state.skipped_record", partition=record.partition)
                continue
            mine = spool.side.state(state.subject)
            rows.append(StateRow(state.subject, state.status_time, record.value))
            if mine is not None and _newer(mine, state):
                regressed.append(mine)
        await spool.follow(
            states=rows,
            cursors=_cursors(topic, records),
            appends=[republish(value) for value in regressed],
        )

    await _follow(publisher, spool, topic, handle, on_idle)


def _newer(mine: bytes, seen: CurrentState) -> bool:
    try:
        own = CurrentState.from_json(mine)
    except (ValueError, KeyError):
        return False
    return (own.status_time or "") > (seen.status_time or "")
