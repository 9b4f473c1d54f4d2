"""
Appends, the spool's hot path, run a whole group at a time.

Every webhook is one `AppendEntries`. Run one by one, each would cost several
SQLite statements, and each statement releases and re-takes the GIL, which the
event loop thread is contending for. So the writer runs the appends of a group
together (`append_group`): one lookup of the ids already pending, one of the
ids delivered within the dedup window, one of the submissions' current states,
one `executemany` of the new rows and one of the new states, whatever the size
of the group. The outcome is the same as running them one by one in order.

`StateCheck` decides, inside the same transaction, whether an event is stale
and what the submission's state is after it (so concurrent events of one
submission are judged in acceptance order): a stale event gets
`"stale": true` in its serialized envelope and changes nothing; otherwise the
state row is updated and the new state becomes the event's follow-up record.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bridge.delivery.spool.ops import (
    REPLICA_HEADER,
    Appended,
    Entry,
    Operation,
    Refused,
    SpooledRecord,
    insert_rows,
    last_seq,
    row_bytes,
    row_of,
    spooled,
)
from bridge.delivery.spool.side import STATE_UPSERT, SideWrite
from bridge.errors import TransientError
from bridge.publish import Record
from bridge.state import Channel, CurrentState, advance, is_stale

__all__ = ["AppendEntries", "StateCheck", "append_group"]

_NOT_STALE = b'"stale":false,'
_STALE = b'"stale":true,'
_CHUNK = 500  # parameters per IN (...) lookup


@dataclass(frozen=True, slots=True)
class StateCheck:
    """What judges an event against the submission's current state (see the module)."""

    topic: str
    subject: str
    project: str
    status: str | None
    status_time: str | None
    event_type: str
    channel: Channel
    updated_at: str
    replica: bytes = b""  # the `kyc_replica` header of the state record (who wrote it)

    def decide(
        self, current: bytes | None, entry: Entry
    ) -> tuple[Entry, bool, tuple[str | None, bytes] | None]:
        """
        Return the entry to store, whether it is stale, and the new state (its status
        time and value; None when stale: the state does not change).
        """
        state = CurrentState.from_json(current) if current is not None else None
        if is_stale(self.status_time, state):
            value = entry.record.value or b""
            marked = value.replace(_NOT_STALE, _STALE, 1)  # the envelope's own member comes first
            record = Record(entry.record.key, marked, entry.record.headers)
            return dataclasses.replace(entry, record=record), True, None
        after = advance(
            state,
            subject=self.subject,
            project=self.project,
            status=self.status,
            status_time=self.status_time,
            event_id=entry.event_id,
            event_type=self.event_type,
            channel=self.channel,
            updated_at=self.updated_at,
        )
        value = after.to_json()
        record = Record(self.subject.encode("utf-8"), value, ((REPLICA_HEADER, self.replica),))
        followup = Entry(f"state:{entry.event_id}", self.topic, record)
        return dataclasses.replace(entry, followup=followup), False, (after.status_time, value)


@dataclass
class AppendEntries(Operation[list[Appended]]):
    """Append entries atomically; a repeat of a pending or recently delivered id is skipped."""

    entries: tuple[Entry, ...]
    accepted_at: float
    horizon: float  # delivered ids older than this no longer count as repeats
    side: SideWrite | None = None  # applied only if its primary entry is stored
    state: StateCheck | None = None  # judges the primary entry (side.primary, else 0)
    refuse: TransientError | None = None  # set by the writer when the volume is low

    @property
    def writes(self) -> int:
        # a state follow-up is decided in the transaction: a state record is ~400 bytes
        return sum(row_bytes(entry) + 512 * (self.state is not None) for entry in self.entries)

    def committed(self) -> list[SpooledRecord]:
        return [a.record for a in self._result if a.record is not None]

    def run(self, conn: sqlite3.Connection) -> list[Appended]:
        if self.refuse is not None:
            raise Refused(self.refuse)
        append_group(conn, [self])
        return self._result

    def store(self, result: list[Appended]) -> None:
        """Set the result a group run computed for this operation."""
        self._result = result

    def result(self) -> list[Appended]:
        """The result a group run computed for this operation."""
        return self._result


def _present(
    conn: sqlite3.Connection, query: str, keys: Iterable[str], *args: object
) -> dict[str, bytes]:
    """Run `query` (with one `{}` for the IN list) over `keys` in chunks: key -> value."""
    found: dict[str, bytes] = {}
    ordered = list(keys)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for key, value in conn.execute(query.format(marks), (*args, *chunk)):
            found[str(key)] = bytes(value) if isinstance(value, bytes) else b""
    return found


def append_group(conn: sqlite3.Connection, ops: Sequence[AppendEntries]) -> None:
    """
    Run `ops` (none refused) as if one after the other, with a handful of statements,
    and store each one's result (see the module docstring).
    """
    ids = {entry.event_id for op in ops for entry in op.entries}
    horizon = min(op.horizon for op in ops)
    pending = set(_present(conn, "SELECT event_id, '' FROM events WHERE event_id IN ({})", ids))
    delivered = _present(
        conn, "SELECT event_id, acked_at FROM delivered WHERE acked_at >= ? AND event_id IN ({})",
        ids, horizon,
    )  # fmt: skip
    subjects = {op.state.subject for op in ops if op.state is not None}
    states = _present(conn, "SELECT subject, value FROM state WHERE subject IN ({})", subjects)
    first = last_seq(conn) + 1
    seq = first - 1
    rows: list[tuple[object, ...]] = []
    upserts: list[tuple[str, str | None, bytes]] = []
    for op in ops:
        appended: list[Appended] = []
        primary = op.side.primary if op.side is not None else 0
        for index, entry in enumerate(op.entries):
            after = 0
            if entry.after is not None:
                after = entry.after.seq
                if entry.after.entry is not None:
                    needed = appended[entry.after.entry].record
                    if needed is None:  # what it depends on was a repeat: so is this
                        appended.append(Appended(appended[entry.after.entry].outcome, None))
                        continue
                    after = needed.seq
            if entry.event_id in pending:
                appended.append(Appended("pending", None))
                continue
            if entry.event_id in delivered:
                appended.append(Appended("delivered", None))
                continue
            stale = False
            stored = entry
            if op.state is not None and index == primary:
                stored, stale, state = op.state.decide(states.get(op.state.subject), entry)
                if state is not None:
                    states[op.state.subject] = state[1]
                    upserts.append((op.state.subject, *state))
            seq += 1
            rows.append(row_of(stored, op.accepted_at, after))
            pending.add(entry.event_id)
            appended.append(Appended("stored", spooled(seq, stored, op.accepted_at, after), stale))
        op.store(appended)
    insert_rows(conn, rows, first)
    conn.executemany(STATE_UPSERT, upserts)
    for op in ops:
        result = op.result()
        if op.side is not None and result[op.side.primary].record is not None:
            op.side.apply(conn, [a.record.seq if a.record else 0 for a in result])
