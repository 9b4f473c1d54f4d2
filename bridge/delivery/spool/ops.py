"""
The spool's table layout and every operation on it, each a typed unit.

An operation runs on the writer thread's connection inside the group's
transaction (`execute`), and once the group committed its caller's future is
settled with the result (`finish`, on the event loop). Records it made durable
(`committed`) go to the relay. `requeue` marks bookkeeping nobody waits for
(done, discard): if the group's transaction fails it is kept for the next
group, never lost.

An operation may raise `Refused` before it writes anything: only that
operation fails, the rest of the group commits.

Tables: `events` (pending records in acceptance order `seq`), `delivered`
(ids Kafka acknowledged: the dedup window). Nothing outside this package
knows them.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, Literal, TypeVar

import orjson

from bridge.delivery.spool.side import KeyRow, StateRow, apply_followed
from bridge.errors import TransientError
from bridge.publish import Record

__all__ = [
    "INSERT",
    "REPLICA_HEADER",
    "Appended",
    "Counts",
    "Discard",
    "Entry",
    "Follow",
    "MarkDone",
    "Operation",
    "PendingTopics",
    "Prerequisite",
    "Prune",
    "ReadAfter",
    "ReadOrigin",
    "Refused",
    "Replace",
    "SpooledRecord",
    "Work",
    "insert_rows",
    "last_seq",
    "row_bytes",
    "row_of",
    "spooled",
]

T = TypeVar("T")

_ROW = (
    "seq, event_id, topic, key, value, headers, accepted_at, after, after_topic, tombstone, "
    "followup"
)


# ---------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Prerequisite:
    """A record Kafka must acknowledge first: by seq, or by its index in the same append."""

    topic: str
    seq: int = 0
    entry: int | None = None  # index of an earlier entry of the same append


@dataclass(frozen=True, slots=True)
class Entry:
    """A record to append: where it goes and what must be published before it."""

    event_id: str
    topic: str
    record: Record
    after: Prerequisite | None = None
    origin: bytes | None = None  # what a dead letter needs if Kafka refuses the record
    followup: Entry | None = None  # appended once Kafka acknowledged this record


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    """A record that is durably on disk, with its acceptance sequence number."""

    seq: int
    event_id: str
    topic: str
    record: Record
    accepted_at: float
    after: int = 0  # seq of the prerequisite (0: none)
    after_topic: str | None = None  # its topic
    followup: Entry | None = None  # appended once Kafka acknowledged this record


Outcome = Literal["stored", "pending", "delivered"]


@dataclass(frozen=True, slots=True)
class Appended:
    """What an append did with one entry: stored it, or found it pending or delivered."""

    outcome: Outcome
    record: SpooledRecord | None  # the stored row; None for a repeat
    stale: bool = False  # its state check found it stale (see `StateCheck`)


#: the header naming the bridge process that wrote a state record (its followers skip it)
REPLICA_HEADER = "kyc_replica"


class Refused(Exception):
    """Raised by an operation before it writes: only that operation fails."""

    def __init__(self, error: TransientError) -> None:
        super().__init__(error.message)
        self.error = error


def _encode_headers(headers: tuple[tuple[str, bytes], ...]) -> bytes:
    return orjson.dumps([[k, v.decode("latin-1")] for k, v in headers])


def _decode_headers(blob: bytes) -> tuple[tuple[str, bytes], ...]:
    return tuple((k, v.encode("latin-1")) for k, v in orjson.loads(blob))


_Row = tuple[int, str, str, bytes, bytes, bytes, float, int, str | None, int, bytes | None]


def _encode_followup(entry: Entry | None) -> bytes | None:
    if entry is None:
        return None
    record = entry.record
    value = None if record.value is None else record.value.decode("latin-1")
    headers = [[k, v.decode("latin-1")] for k, v in record.headers]
    return orjson.dumps([entry.event_id, entry.topic, record.key.decode("latin-1"), value, headers])


def _decode_followup(blob: bytes | None) -> Entry | None:
    if blob is None:
        return None
    event_id, topic, key, value, headers = orjson.loads(blob)
    encoded = None if value is None else str(value).encode("latin-1")
    record = Record(
        str(key).encode("latin-1"),
        encoded,
        tuple((str(k), str(v).encode("latin-1")) for k, v in headers),
    )
    return Entry(str(event_id), str(topic), record)


def _spooled(row: _Row) -> SpooledRecord:
    seq, event_id, topic, key, value, headers, accepted_at, after, after_topic, tomb, follow = row
    record = Record(key, None if tomb else value, _decode_headers(headers))
    followup = _decode_followup(follow)
    return SpooledRecord(seq, event_id, topic, record, accepted_at, after, after_topic, followup)


INSERT = (
    "INSERT INTO events (event_id, topic, key, value, headers, accepted_at, size, after, "
    "after_topic, origin, tombstone, followup) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def row_bytes(entry: Entry) -> int:
    """The bytes an entry's row holds: the record, its dead-letter origin and follow-up."""
    size = entry.record.size + len(entry.origin or b"")
    return size + (entry.followup.record.size if entry.followup is not None else 0)


def row_of(entry: Entry, accepted_at: float, after: int) -> tuple[object, ...]:
    """The `events` row of an entry (the parameters of `INSERT`)."""
    record = entry.record
    return (
        entry.event_id,
        entry.topic,
        record.key,
        record.value if record.value is not None else b"",
        _encode_headers(record.headers),
        accepted_at,
        record.size,
        after,
        entry.after.topic if entry.after is not None and after else None,
        entry.origin,
        record.value is None,
        _encode_followup(entry.followup),
    )


def spooled(seq: int, entry: Entry, accepted_at: float, after: int) -> SpooledRecord:
    """The record an inserted entry became."""
    after_topic = entry.after.topic if entry.after is not None and after else None
    return SpooledRecord(
        seq,
        entry.event_id,
        entry.topic,
        entry.record,
        accepted_at,
        after,
        after_topic,
        entry.followup,
    )


def last_seq(conn: sqlite3.Connection) -> int:
    """The highest `seq` the events table ever gave (AUTOINCREMENT's counter)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return int(row[0]) if row else 0


def insert_rows(conn: sqlite3.Connection, rows: Sequence[tuple[object, ...]], first: int) -> None:
    """
    Insert `events` rows with one statement; they must get `first`, `first + 1`, ...

    Raises:
        sqlite3.DatabaseError: they did not (the transaction must be rolled back).
    """
    if not rows:
        return
    conn.executemany(INSERT, rows)
    if last_seq(conn) != first + len(rows) - 1:
        raise sqlite3.DatabaseError("spool sequence numbers are not where they were expected")


def insert_entries(
    conn: sqlite3.Connection, entries: Sequence[Entry], accepted_at: float
) -> list[SpooledRecord]:
    """
    Insert entries whose prerequisites are given by seq (not by entry index), in one
    statement, and return the records they became.

    Raises:
        sqlite3.DatabaseError: the sequence numbers were not the expected ones.
    """
    first = last_seq(conn) + 1
    afters = [entry.after.seq if entry.after is not None else 0 for entry in entries]
    rows = [row_of(entry, accepted_at, after) for entry, after in zip(entries, afters, strict=True)]
    insert_rows(conn, rows, first)
    return [
        spooled(seq, entry, accepted_at, after)
        for seq, (entry, after) in enumerate(zip(entries, afters, strict=True), start=first)
    ]


def _insert(
    conn: sqlite3.Connection, entry: Entry, accepted_at: float, after: int = 0
) -> SpooledRecord:
    cursor = conn.execute(INSERT, row_of(entry, accepted_at, after))
    assert cursor.lastrowid is not None
    return spooled(cursor.lastrowid, entry, accepted_at, after)


# ---------------------------------------------------------------------------- operations


class Work:
    """What the writer queue holds: run inside a transaction, finish on the event loop."""

    requeue: ClassVar[bool] = False
    #: whether its writes must be fsynced before its caller hears back. Work that is
    #: not durable still survives a crash of the process (its WAL frames are in the
    #: operating system's hands), and after a power loss it is at worst undone as a
    #: whole: a delivered record is then published again, never lost.
    durable: ClassVar[bool] = True

    @property
    def writes(self) -> int:
        """Record bytes it may write (what the free-space check counts)."""
        return 0

    def execute(self, conn: sqlite3.Connection) -> None:
        """Do the work inside the group's transaction (may raise `Refused` before writing)."""
        raise NotImplementedError

    def committed(self) -> list[SpooledRecord]:
        """Records this work made durable, for the relay (after the commit)."""
        return []

    def finish(self, error: BaseException | None) -> None:
        """Settle the caller's future with the result, or with `error`."""
        raise NotImplementedError


class Operation(Work, Generic[T]):
    """A `Work` whose caller awaits a result of type `T`."""

    future: asyncio.Future[T] | None = None
    _result: T

    def run(self, conn: sqlite3.Connection) -> T:
        """Return the result; subclasses implement this."""
        raise NotImplementedError

    def execute(self, conn: sqlite3.Connection) -> None:
        self._result = self.run(conn)

    def finish(self, error: BaseException | None) -> None:
        future = self.future
        if future is None or future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(self._result)


@dataclass
class Replace(Operation[SpooledRecord]):
    """Swap a record for another in the same place of the order (dead-lettering)."""

    old: SpooledRecord
    entry: Entry

    def committed(self) -> list[SpooledRecord]:
        return [self._result]

    @property
    def writes(self) -> int:
        return row_bytes(self.entry)

    def run(self, conn: sqlite3.Connection) -> SpooledRecord:
        conn.execute("DELETE FROM events WHERE seq = ?", (self.old.seq,))
        return _insert(conn, self.entry, self.old.accepted_at, self.old.after)


@dataclass
class MarkDone(Operation[list[SpooledRecord]]):
    """
    Forget delivered records, remember their ids in the dedup window, and append
    their follow-up records (committed to the relay like new records).
    """

    seqs: tuple[int, ...]
    event_ids: tuple[str, ...]
    acked_at: float
    followups: tuple[Entry, ...] = ()
    requeue: ClassVar[bool] = True
    durable: ClassVar[bool] = False

    def committed(self) -> list[SpooledRecord]:
        return self._result

    @property
    def writes(self) -> int:
        return sum(entry.record.size for entry in self.followups)

    def run(self, conn: sqlite3.Connection) -> list[SpooledRecord]:
        conn.executemany("DELETE FROM events WHERE seq = ?", [(s,) for s in self.seqs])
        conn.executemany(
            "INSERT OR REPLACE INTO delivered (event_id, acked_at) VALUES (?, ?)",
            [(i, self.acked_at) for i in self.event_ids],
        )
        return insert_entries(conn, self.followups, self.acked_at)


@dataclass
class Discard(Operation[None]):
    """Forget records that can never be delivered (their loss has been logged)."""

    seqs: tuple[int, ...]
    requeue: ClassVar[bool] = True
    durable: ClassVar[bool] = False

    def run(self, conn: sqlite3.Connection) -> None:
        conn.executemany("DELETE FROM events WHERE seq = ?", [(s,) for s in self.seqs])


@dataclass
class ReadAfter(Operation[list[SpooledRecord]]):
    """Pending records above `seq` (of one topic, or all), in order, within both limits."""

    seq: int
    limit: int
    max_bytes: int | None
    topic: str | None
    durable: ClassVar[bool] = False

    def run(self, conn: sqlite3.Connection) -> list[SpooledRecord]:
        if self.topic is None:
            rows: Iterable[_Row] = conn.execute(
                f"SELECT {_ROW} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
                (self.seq, self.limit),
            )
        else:
            rows = conn.execute(
                f"SELECT {_ROW} FROM events WHERE topic = ? AND seq > ? "  # noqa: S608
                "ORDER BY seq LIMIT ?",
                (self.topic, self.seq, self.limit),
            )
        found: list[SpooledRecord] = []
        size = 0
        for row in rows:
            found.append(_spooled(row))
            size += found[-1].record.size
            if self.max_bytes is not None and size >= self.max_bytes:
                break
        return found


@dataclass
class Follow(Operation[list[SpooledRecord]]):
    """
    Record what a follower read from the keys or state topic (see `side`), and append
    the records its reading calls for (tombstones, a state published again), committed
    to the relay like new records.
    """

    keys: tuple[KeyRow, ...]
    states: tuple[StateRow, ...]
    cursors: tuple[tuple[str, int, int], ...]
    appends: tuple[Entry, ...] = ()
    accepted_at: float = 0.0
    erasures: tuple[tuple[str, str], ...] = ()  # (subject, erased_at) read

    def committed(self) -> list[SpooledRecord]:
        return self._result

    @property
    def writes(self) -> int:
        return sum(entry.record.size for entry in self.appends)

    def run(self, conn: sqlite3.Connection) -> list[SpooledRecord]:
        apply_followed(conn, self.keys, self.states, self.cursors, self.erasures)
        return insert_entries(conn, self.appends, self.accepted_at)


@dataclass
class PendingTopics(Operation[list[str]]):
    """The topics that have pending records."""

    durable: ClassVar[bool] = False

    def run(self, conn: sqlite3.Connection) -> list[str]:
        return [str(t) for (t,) in conn.execute("SELECT DISTINCT topic FROM events")]


@dataclass
class ReadOrigin(Operation[bytes | None]):
    """The dead-letter material stored with a record, if any."""

    seq: int
    durable: ClassVar[bool] = False

    def run(self, conn: sqlite3.Connection) -> bytes | None:
        row = conn.execute("SELECT origin FROM events WHERE seq = ?", (self.seq,)).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None


@dataclass(frozen=True, slots=True)
class Counts:
    """Figures only the database knows: the oldest pending record and the dedup window."""

    oldest_accepted_at: float | None
    delivered_entries: int


@dataclass
class Prune(Operation[Counts]):
    """Drop dedup entries older than `horizon` and beyond `max_entries`; report counts."""

    horizon: float
    max_entries: int
    count: bool = True  # count the dedup window's entries (a scan: not every second)
    # durable: `/readyz` and the gauges run it to find out whether the spool can commit

    def run(self, conn: sqlite3.Connection) -> Counts:
        conn.execute("DELETE FROM delivered WHERE acked_at < ?", (self.horizon,))
        if not self.count:
            row = conn.execute("SELECT accepted_at FROM events ORDER BY seq LIMIT 1").fetchone()
            return Counts(float(row[0]) if row else None, -1)
        (entries,) = conn.execute("SELECT COUNT(*) FROM delivered").fetchone()
        if entries > self.max_entries:
            conn.execute(
                "DELETE FROM delivered WHERE event_id IN (SELECT event_id FROM delivered "
                "ORDER BY acked_at LIMIT ?)",
                (entries - self.max_entries,),
            )
            entries = self.max_entries
        row = conn.execute("SELECT accepted_at FROM events ORDER BY seq LIMIT 1").fetchone()
        return Counts(float(row[0]) if row else None, int(entries))
