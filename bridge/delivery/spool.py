"""
The durable spool: a SQLite database in WAL mode with `synchronous=FULL`,
owned by one writer thread. Every accepted event is written here (and
fsynced) before it is published; rows are deleted once Kafka acknowledged
them. Concurrent appends share one transaction and one fsync (group commit).

Tables: `events` (pending records in acceptance order, `seq`) and
`delivered` (event ids Kafka acknowledged, for the dedup window).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from bridge.config import SpoolSettings
from bridge.errors import SpoolFullError, SpoolUnavailableError
from bridge.publish.base import Record

__all__ = ["Spool", "SpoolStats", "SpooledRecord"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    headers BLOB NOT NULL,
    accepted_at REAL NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS delivered (
    event_id TEXT PRIMARY KEY,
    acked_at REAL NOT NULL
) WITHOUT ROWID;
"""
_MAX_GROUP = 2000


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    """A record that is durably on disk, with its acceptance sequence number."""

    seq: int
    event_id: str
    topic: str
    record: Record
    accepted_at: float


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """Point-in-time spool figures for metrics and `spool status`."""

    events: int
    bytes: int
    oldest_accepted_at: float | None


class _Op:
    __slots__ = ("args", "future", "kind")

    def __init__(self, kind: str, args: tuple[object, ...], future: asyncio.Future[object] | None):
        self.kind = kind
        self.args = args
        self.future = future


def _encode_headers(headers: tuple[tuple[str, bytes], ...]) -> bytes:
    return orjson.dumps([[k, v.decode("latin-1")] for k, v in headers])


def _decode_headers(blob: bytes) -> tuple[tuple[str, bytes], ...]:
    return tuple((k, v.encode("latin-1")) for k, v in orjson.loads(blob))


class Spool:
    """Durable FIFO of records; see the module docstring."""

    def __init__(self, settings: SpoolSettings, *, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._ops: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: list[Callable[[list[SpooledRecord]], None]] = []
        self.events = 0
        self.bytes = 0
        self.healthy = True
        self._lock_fd = -1

    @property
    def path(self) -> Path:
        """The SQLite database file."""
        return self._settings.directory / "spool.sqlite3"

    def subscribe(self, callback: Callable[[list[SpooledRecord]], None]) -> None:
        """Call `callback` on the event loop with every batch of newly committed records."""
        self._subscribers.append(callback)

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """
        Open (or create) the database and start the writer thread.

        Raises:
            SpoolUnavailableError: the directory or database cannot be used.
        """
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[object] = self._loop.create_future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="spool", daemon=True)
        self._thread.start()
        await ready

    async def close(self) -> None:
        """Commit what is queued and stop the writer thread."""
        if self._thread is not None:
            self._ops.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    # ------------------------------------------------------------------ API

    def _submit(self, kind: str, *args: object) -> asyncio.Future[object]:
        if self._thread is None or self._loop is None:
            raise SpoolUnavailableError("spool is closed")
        future: asyncio.Future[object] = self._loop.create_future()
        self._ops.put(_Op(kind, args, future))
        return future

    def has_room(self, size: int) -> bool:
        """Whether one more record of `size` bytes fits under the caps."""
        return (
            self.events + 1 <= self._settings.max_events
            and self.bytes + size <= self._settings.max_bytes
        )

    async def append(self, event_id: str, topic: str, record: Record) -> SpooledRecord:
        """
        Append a record and return once it is fsynced.

        Raises:
            SpoolFullError: a cap would be exceeded (nothing is written).
            SpoolUnavailableError: the write failed.
        """
        size = record.size
        if not self.has_room(size):
            raise SpoolFullError("spool is full")
        self.events += 1
        self.bytes += size
        try:
            result = await self._submit("append", event_id, topic, record, self._clock())
        except SpoolUnavailableError:
            self.events -= 1
            self.bytes -= size
            raise
        assert isinstance(result, SpooledRecord)
        return result

    def mark_done(self, done: Sequence[SpooledRecord], acked_at: float) -> None:
        """Forget delivered records and remember their ids (committed with the next group)."""
        self.events -= len(done)
        self.bytes -= sum(r.record.size for r in done)
        if self._thread is not None:
            self._ops.put(_Op("done", (tuple(done), acked_at), None))

    def discard(self, records: Sequence[SpooledRecord]) -> None:
        """Forget records that can never be delivered (their loss has been logged)."""
        self.events -= len(records)
        self.bytes -= sum(r.record.size for r in records)
        if self._thread is not None:
            self._ops.put(_Op("discard", (tuple(records),), None))

    async def replace(
        self, old: SpooledRecord, event_id: str, topic: str, record: Record
    ) -> SpooledRecord:
        """
        Atomically swap a record for another (used for dead-lettering).

        Subscribers are not told: the caller takes the replacement itself.
        """
        result = await self._submit("replace", old.seq, event_id, topic, record, old.accepted_at)
        assert isinstance(result, SpooledRecord)
        self.bytes += record.size - old.record.size
        return result

    async def read_after(
        self, seq: int, limit: int, *, max_bytes: int | None = None
    ) -> list[SpooledRecord]:
        """
        Return pending records with a sequence number above `seq`, in order: at most
        `limit` of them, and stopping once `max_bytes` is reached (always at least one).
        """
        result = await self._submit("read", seq, limit, max_bytes)
        assert isinstance(result, list)
        return result

    async def delivered_since(self, since: float) -> list[tuple[str, float]]:
        """Return (event id, acked at) of deliveries newer than `since`; prune older ones."""
        result = await self._submit("delivered", since)
        assert isinstance(result, list)
        return result

    async def pending_ids(self) -> dict[str, int]:
        """Return event id -> sequence number of every record not yet delivered."""
        result = await self._submit("pending")
        assert isinstance(result, dict)
        return result

    async def stats(self) -> SpoolStats:
        """Return the pending count, bytes and the acceptance time of the oldest record."""
        result = await self._submit("oldest")
        oldest = result if isinstance(result, float) else None
        return SpoolStats(self.events, self.bytes, oldest)

    # ------------------------------------------------------------------ writer thread

    def _connect(self) -> sqlite3.Connection:
        self._settings.directory.mkdir(parents=True, exist_ok=True)
        # One process per spool: a second bridge (or `spool drain`) on the same
        # directory would publish the same rows concurrently and break ordering.
        self._lock_fd = os.open(self._settings.directory / "spool.lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise SpoolUnavailableError("spool directory is in use by another process") from None
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        return conn

    def _run(self, ready: asyncio.Future[object]) -> None:
        loop = self._loop
        assert loop is not None
        try:
            conn = self._connect()
            events, size = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM events"
            ).fetchone()
        except SpoolUnavailableError as exc:
            loop.call_soon_threadsafe(_settle, ready, None, exc)
            return
        except (sqlite3.Error, OSError) as exc:
            error = SpoolUnavailableError(f"cannot open spool: {type(exc).__name__}")
            loop.call_soon_threadsafe(_settle, ready, None, error)
            return
        self.events, self.bytes = int(events), int(size)
        loop.call_soon_threadsafe(_settle, ready, None, None)
        stopping = False
        while not stopping:
            ops: list[_Op] = []
            item = self._ops.get()
            while item is not None and len(ops) < _MAX_GROUP:
                ops.append(item)
                try:
                    item = self._ops.get_nowait()
                except queue.Empty:
                    break
            stopping = item is None
            if ops:
                self._apply(conn, ops, loop)
        conn.close()
        os.close(self._lock_fd)

    def _apply(
        self, conn: sqlite3.Connection, ops: list[_Op], loop: asyncio.AbstractEventLoop
    ) -> None:
        results: list[object] = []
        committed: list[SpooledRecord] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in ops:
                result = self._execute(conn, op)
                results.append(result)
                if op.kind == "append" and isinstance(result, SpooledRecord):
                    committed.append(result)
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.healthy = False
            error = SpoolUnavailableError(f"spool write failed: {type(exc).__name__}")
            loop.call_soon_threadsafe(_fail_all, ops, error)
            # Bookkeeping ops have no caller to tell: keep them for the next group.
            for op in ops:
                if op.kind in ("done", "discard"):
                    self._ops.put(op)
            time.sleep(0.2)  # a failing disk must not spin this thread
            return
        self.healthy = True
        loop.call_soon_threadsafe(self._publish_results, ops, results, committed)

    def _execute(self, conn: sqlite3.Connection, op: _Op) -> object:
        if op.kind == "append":
            event_id, topic, record, accepted_at = op.args
            assert isinstance(record, Record)
            return self._insert(conn, str(event_id), str(topic), record, float(accepted_at))  # type: ignore[arg-type]
        if op.kind == "replace":
            old_seq, event_id, topic, record, accepted_at = op.args
            assert isinstance(record, Record)
            conn.execute("DELETE FROM events WHERE seq = ?", (old_seq,))
            return self._insert(conn, str(event_id), str(topic), record, float(accepted_at))  # type: ignore[arg-type]
        if op.kind == "done":
            done, acked_at = op.args
            assert isinstance(done, tuple)
            conn.executemany("DELETE FROM events WHERE seq = ?", [(r.seq,) for r in done])
            conn.executemany(
                "INSERT OR REPLACE INTO delivered (event_id, acked_at) VALUES (?, ?)",
                [(r.event_id, acked_at) for r in done],
            )
            return None
        if op.kind == "read":
            seq, limit, max_bytes = op.args
            rows = conn.execute(
                "SELECT seq, event_id, topic, key, value, headers, accepted_at FROM events "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            )
            found: list[SpooledRecord] = []
            size = 0
            for row in rows:
                found.append(_row(row))
                size += found[-1].record.size
                if isinstance(max_bytes, int) and size >= max_bytes:
                    break
            return found
        if op.kind == "discard":
            (records,) = op.args
            assert isinstance(records, tuple)
            conn.executemany("DELETE FROM events WHERE seq = ?", [(r.seq,) for r in records])
            return None
        if op.kind == "pending":
            return {str(i): int(q) for i, q in conn.execute("SELECT event_id, seq FROM events")}
        if op.kind == "delivered":
            (since,) = op.args
            conn.execute("DELETE FROM delivered WHERE acked_at < ?", (since,))
            return [
                (str(i), float(t))
                for i, t in conn.execute(
                    "SELECT event_id, acked_at FROM delivered ORDER BY acked_at"
                )
            ]
        if op.kind == "oldest":
            row = conn.execute("SELECT accepted_at FROM events ORDER BY seq LIMIT 1").fetchone()
            return float(row[0]) if row else None
        raise AssertionError(op.kind)

    @staticmethod
    def _insert(
        conn: sqlite3.Connection, event_id: str, topic: str, record: Record, accepted_at: float
    ) -> SpooledRecord:
        cursor = conn.execute(
            "INSERT INTO events (event_id, topic, key, value, headers, accepted_at, size) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                event_id,
                topic,
                record.key,
                record.value,
                _encode_headers(record.headers),
                accepted_at,
                record.size,
            ),
        )
        assert cursor.lastrowid is not None
        return SpooledRecord(cursor.lastrowid, event_id, topic, record, accepted_at)

    def _publish_results(
        self, ops: list[_Op], results: list[object], committed: list[SpooledRecord]
    ) -> None:
        if committed:
            for callback in self._subscribers:
                callback(committed)
        for op, result in zip(ops, results, strict=True):
            if op.future is not None:
                _settle(op.future, result, None)


def _row(row: Iterable[object]) -> SpooledRecord:
    seq, event_id, topic, key, value, headers, accepted_at = row
    assert isinstance(key, bytes)
    assert isinstance(value, bytes)
    assert isinstance(headers, bytes)
    return SpooledRecord(
        int(seq),  # type: ignore[call-overload]
        str(event_id),
        str(topic),
        Record(key, value, _decode_headers(headers)),
        float(accepted_at),  # type: ignore[arg-type]
    )


def _settle(future: asyncio.Future[object], result: object, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _fail_all(ops: list[_Op], error: BaseException) -> None:
    for op in ops:
        if op.future is not None:
            _settle(op.future, None, error)
