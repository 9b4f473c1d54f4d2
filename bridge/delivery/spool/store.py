"""
The durable spool: a SQLite database in WAL mode, owned by one writer thread.
Every accepted record is written here (and fsynced, `synchronous=FULL`) before
it is published; rows are deleted once Kafka acknowledged them. Concurrent
operations share one transaction and one fsync (group commit); a group of
bookkeeping only (deletions after acks) commits without its own fsync and is
made durable by the next one (see `Work.durable`). The operations themselves
live in `bridge.delivery.spool.ops`.

The spool keeps the room it needs to make progress: while the free space of
its volume (plus the pages the database can reuse) is below `min_free_bytes`,
new appends are refused (503) but deliveries can still be recorded, so a full
disk drains as soon as Kafka is back, and appends resume by themselves. The
free space is measured as often as that needs (`bridge.delivery.spool.room`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import structlog

from bridge.config import SpoolSettings
from bridge.delivery.spool.appends import AppendEntries, StateCheck, append_group
from bridge.delivery.spool.layout import migrate, replica_of
from bridge.delivery.spool.ops import (
    Appended,
    Counts,
    Discard,
    Entry,
    Follow,
    MarkDone,
    Operation,
    PendingTopics,
    Prune,
    ReadAfter,
    ReadOrigin,
    Refused,
    Replace,
    SpooledRecord,
    Work,
)
from bridge.delivery.spool.room import FreeSpace
from bridge.delivery.spool.side import KeyRow, SideReader, SideWrite, StateRow
from bridge.errors import SpoolFullError, SpoolUnavailableError

__all__ = ["Spool", "database_path"]

log = structlog.get_logger("bridge.spool")

T = TypeVar("T")
_MAX_GROUP = 2000
_STALL_S = 1.0  # a group running longer means the volume hangs: not writable
_STOP_RETRIES = 3  # failed groups of bookkeeping retried once stopping, then dropped
_FILE_MODE = 0o600
_DIR_MODE = 0o700


def database_path(directory: Path) -> Path:
    """Return the SQLite file of the spool in `directory`."""
    return directory / "spool.sqlite3"


class Spool:
    """Durable FIFO of records; see the module docstring."""

    def __init__(self, settings: SpoolSettings, *, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        # Work goes to the writer in lists: what the event loop queued during one of its
        # iterations is handed over at once (one wake-up of the writer, not one per call).
        self._ops: queue.SimpleQueue[list[Work] | None] = queue.SimpleQueue()
        self._pending: list[Work] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: list[Callable[[list[SpooledRecord]], None]] = []
        self._lock_fd = -1
        #: records and bytes pending (owned by the event loop thread)
        self.events = 0
        self.bytes = 0
        #: whether the last transaction committed
        self.healthy = True
        #: free bytes on the spool's volume at the last group commit
        self.free_bytes = 0
        #: entries in the dedup window at the last `refresh`
        self.delivered_entries = 0
        #: the acceptance time of the oldest pending record at the last `refresh`
        self.oldest_accepted_at: float | None = None
        self._reader: SideReader | None = None
        self._room = FreeSpace(settings.directory, settings.min_free_bytes)  # writer thread
        self._synchronous = "FULL"  # the connection's setting (writer thread)
        self._group_started: float | None = None  # monotonic; set by the writer thread
        #: the replica id stored in the spool (see `layout`); set by `open`
        self.replica = b""

    @property
    def path(self) -> Path:
        """The SQLite database file."""
        return database_path(self._settings.directory)

    @property
    def stalled_s(self) -> float:
        """How long the writer has been inside its current group (0 when idle)."""
        started = self._group_started
        return time.monotonic() - started if started is not None else 0.0

    @property
    def writable(self) -> bool:
        """The last transaction committed and the writer is not stuck in one (a hung disk)."""
        return self.healthy and self.stalled_s < _STALL_S

    @property
    def disk_low(self) -> bool:
        """Whether the volume's free space is below the reserve (appends are refused)."""
        return self.free_bytes < self._settings.min_free_bytes

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
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="spool", daemon=True)
        self._thread.start()
        try:
            await ready
        except SpoolUnavailableError:
            self._thread = None
            raise
        self._reader = SideReader(self.path)

    async def close(self) -> None:
        """Commit what is queued and stop the writer thread."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._thread is not None:
            self._flush()
            self._ops.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    # ------------------------------------------------------------------ API

    def _submit(self, op: Operation[T]) -> asyncio.Future[T]:
        if self._thread is None or self._loop is None:
            raise SpoolUnavailableError("spool is closed")
        future: asyncio.Future[T] = self._loop.create_future()
        op.future = future
        self._enqueue(op)
        return future

    def _enqueue(self, work: Work) -> None:
        if not self._pending and self._loop is not None:
            self._loop.call_soon(self._flush)
        self._pending.append(work)

    def _flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, []
            self._ops.put(pending)

    def has_room(self, size: int) -> bool:
        """Whether one more record of `size` bytes fits under the caps and the disk reserve."""
        return (
            self.events + 1 <= self._settings.max_events
            and self.bytes + size <= self._settings.max_bytes
            and not self.disk_low
        )

    @property
    def side(self) -> SideReader:
        """
        Point reads of the side tables (keys, state, cursors), on the event loop.

        Raises:
            SpoolUnavailableError: the spool is not open.
        """
        if self._reader is None:
            raise SpoolUnavailableError("spool is closed")
        return self._reader

    async def append(
        self,
        entries: Sequence[Entry],
        *,
        side: SideWrite | None = None,
        state: StateCheck | None = None,
    ) -> list[Appended]:
        """
        Append `entries` in one transaction and return once they are fsynced; `side`
        rows are written in the same transaction if its primary entry is stored.

        An entry whose event id is pending, or was delivered within the dedup
        window, is not stored again (its outcome says which), nor is an entry whose
        in-append prerequisite was not.

        Raises:
            SpoolFullError: a cap or the disk reserve would be exceeded (nothing written).
            SpoolUnavailableError: the write failed.
        """
        count = len(entries)
        size = sum(e.record.size for e in entries)
        if self.disk_low:
            raise SpoolFullError("the spool's volume is almost full")
        if self.events + count > self._settings.max_events or (
            self.bytes + size > self._settings.max_bytes
        ):
            raise SpoolFullError("spool is full")
        self.events += count
        self.bytes += size
        op = AppendEntries(tuple(entries), self._clock(), self._horizon(), side, state)
        try:
            appended = await self._submit(op)
        except BaseException:
            self.events -= count
            self.bytes -= size
            raise
        for entry, result in zip(entries, appended, strict=True):
            if result.outcome != "stored":
                self.events -= 1
                self.bytes -= entry.record.size
        return appended

    def mark_done(self, done: Sequence[SpooledRecord], acked_at: float) -> None:
        """
        Forget delivered records and remember their ids; their follow-up records are
        appended in the same transaction (committed with the next group).
        """
        followups = tuple(r.followup for r in done if r.followup is not None)
        self.events -= len(done) - len(followups)
        self.bytes -= sum(r.record.size for r in done) - sum(f.record.size for f in followups)
        if self._thread is not None:
            self._enqueue(
                MarkDone(
                    tuple(r.seq for r in done),
                    # internal records (key, state, tombstone: "kind:..." ids) need no dedup
                    tuple(r.event_id for r in done if ":" not in r.event_id),
                    acked_at,
                    followups,
                )
            )

    def discard(self, records: Sequence[SpooledRecord]) -> None:
        """Forget records that can never be delivered (their loss has been logged)."""
        self.events -= len(records)
        self.bytes -= sum(r.record.size for r in records)
        if self._thread is not None:
            self._enqueue(Discard(tuple(r.seq for r in records)))

    async def replace(self, old: SpooledRecord, entry: Entry) -> SpooledRecord:
        """Atomically swap a record for another (subscribers get the replacement)."""
        result = await self._submit(Replace(old, entry))
        self.bytes += entry.record.size - old.record.size
        return result

    async def read_after(
        self, seq: int, limit: int, *, max_bytes: int | None = None, topic: str | None = None
    ) -> list[SpooledRecord]:
        """
        Return pending records with a sequence number above `seq` (of `topic`, or all),
        in order: at most `limit`, stopping once `max_bytes` is reached (at least one).
        """
        return await self._submit(ReadAfter(seq, limit, max_bytes, topic))

    async def follow(
        self,
        keys: Sequence[KeyRow] = (),
        states: Sequence[StateRow] = (),
        cursors: Sequence[tuple[str, int, int]] = (),
        appends: Sequence[Entry] = (),
        erasures: Sequence[tuple[str, str]] = (),
    ) -> None:
        """
        Record what a follower read (keys, subjects' erasure times, newer states) and how
        far, and append what its reading calls for (`appends`: tombstones, a state
        published again; prerequisites by seq only), in one transaction, so a crash
        never keeps the position without them. They are not held to the caps: erasing
        and repairing the state topic never wait for room.
        """
        op = Follow(
            tuple(keys),
            tuple(states),
            tuple(cursors),
            tuple(appends),
            self._clock(),
            tuple(erasures),
        )
        appended = await self._submit(op)
        self.events += len(appended)
        self.bytes += sum(r.record.size for r in appended)

    async def pending_topics(self) -> list[str]:
        """Return the topics that have records waiting."""
        return await self._submit(PendingTopics())

    async def origin(self, seq: int) -> bytes | None:
        """Return the dead-letter material stored with record `seq`, if any."""
        return await self._submit(ReadOrigin(seq))

    async def refresh(self, *, count: bool = True) -> Counts:
        """
        Prune the dedup window by age, and (with `count`) by size, and update the figures
        only the database knows. Counting scans the window: callers on a timer count
        only now and then.
        """
        prune = Prune(self._horizon(), self._settings.dedup_max_entries, count)
        counts = await self._submit(prune)
        if counts.delivered_entries >= 0:
            self.delivered_entries = counts.delivered_entries
        self.oldest_accepted_at = counts.oldest_accepted_at
        return counts

    def _horizon(self) -> float:
        return self._clock() - self._settings.dedup_window_s

    # ------------------------------------------------------------------ writer thread

    def _connect(self) -> sqlite3.Connection:
        directory = self._settings.directory
        directory.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
        _restrict(directory, _DIR_MODE)
        # One process per spool: a second bridge (or `spool drain`) on the same
        # directory would publish the same rows concurrently and break ordering.
        self._lock_fd = os.open(directory / "spool.lock", os.O_RDWR | os.O_CREAT, _FILE_MODE)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise SpoolUnavailableError("spool directory is in use by another process") from None
        # The database holds personal data: only the owner may read it. SQLite gives
        # its -wal and -shm files the database file's mode.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, _FILE_MODE))
        for name in ("spool.lock", "spool.sqlite3", "spool.sqlite3-wal", "spool.sqlite3-shm"):
            if (directory / name).exists():
                _restrict(directory / name, _FILE_MODE)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA journal_size_limit=16777216")
        migrate(conn)
        return conn

    def _run(self, ready: asyncio.Future[None]) -> None:
        loop = self._loop
        assert loop is not None
        try:
            conn = self._connect()
            events, size = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM events"
            ).fetchone()
            free = self._room.measure(conn)
            self.replica = replica_of(conn)  # read by the loop only after `_opened`
        except SpoolUnavailableError as exc:
            loop.call_soon_threadsafe(_fail, ready, exc)
            return
        except (sqlite3.Error, OSError) as exc:
            error = SpoolUnavailableError(f"cannot open spool: {type(exc).__name__}")
            loop.call_soon_threadsafe(_fail, ready, error)
            return
        loop.call_soon_threadsafe(self._opened, ready, int(events), int(size), free)
        backlog: list[Work] = []
        stopping = False
        failed_at_stop = 0
        while not stopping or backlog:
            if not backlog:
                first = self._ops.get()
                if first is None:
                    break
                backlog = first
            while len(backlog) < _MAX_GROUP and not stopping:
                try:
                    item = self._ops.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                else:
                    backlog += item
            group, backlog = backlog[:_MAX_GROUP], backlog[_MAX_GROUP:]  # never more per group
            self._group_started = time.monotonic()
            try:
                kept = self._apply(conn, group, loop)
            finally:
                self._group_started = None
            if kept and stopping:
                failed_at_stop += 1
                if failed_at_stop > _STOP_RETRIES:
                    # Only acknowledgements are lost: their records stay spooled and
                    # are published again after a restart (duplicates, never loss).
                    log.warning("spool.bookkeeping_dropped", operations=len(kept))
                    kept = []
            # bookkeeping of a failed group goes first, in its order: a later MarkDone
            # must not append its follow-ups (state records) before an earlier one's
            backlog = kept + backlog
        conn.close()
        os.close(self._lock_fd)

    def _opened(self, ready: asyncio.Future[None], events: int, size: int, free: int) -> None:
        self.events, self.bytes, self.free_bytes = events, size, free
        if not ready.done():
            ready.set_result(None)

    def _apply(
        self, conn: sqlite3.Connection, group: list[Work], loop: asyncio.AbstractEventLoop
    ) -> list[Work]:
        """Run `group` in one transaction; return the bookkeeping to retry if it failed."""
        writing = sum(w.writes for w in group)
        try:
            free = self._room.before_group(conn, writing)
        except (OSError, sqlite3.Error):
            free = 0
        low = free < self._settings.min_free_bytes
        refused: dict[int, BaseException] = {}
        try:
            # Only what a caller waits on needs its fsync; bookkeeping rides along
            # with the next one (see `Work.durable`).
            durable = any(w.durable for w in group)
            synchronous = "FULL" if durable else "NORMAL"
            if synchronous != self._synchronous:
                conn.execute(f"PRAGMA synchronous={synchronous}")
                self._synchronous = synchronous
            conn.execute("BEGIN IMMEDIATE")
            appends: list[AppendEntries] = []  # a run of appends, executed together
            for index, work in enumerate(group):
                if isinstance(work, AppendEntries):
                    if low:
                        refused[index] = SpoolFullError("the spool's volume is almost full")
                    else:
                        appends.append(work)
                    continue
                if appends:
                    append_group(conn, appends)
                    appends = []
                try:
                    work.execute(conn)
                except Refused as exc:
                    refused[index] = exc.error
            if appends:
                append_group(conn, appends)
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            error = SpoolUnavailableError(f"spool write failed: {type(exc).__name__}")
            loop.call_soon_threadsafe(self._failed, group, error, free)
            time.sleep(0.2)  # a failing disk must not spin this thread
            # Bookkeeping has no caller to tell: keep it for the next group.
            return [work for work in group if work.requeue]
        loop.call_soon_threadsafe(self._committed, group, refused, free, durable)
        return []

    def _failed(self, group: list[Work], error: BaseException, free: int) -> None:
        self._set_health(healthy=False, free=free)
        for work in group:
            work.finish(error)

    def _committed(
        self, group: list[Work], refused: dict[int, BaseException], free: int, durable: bool
    ) -> None:
        # only a commit with its fsync shows the spool can store webhooks again
        self._set_health(healthy=True if durable else self.healthy, free=free)
        committed: list[SpooledRecord] = []
        for index, work in enumerate(group):
            if index not in refused:
                committed += work.committed()
        if committed:
            for callback in self._subscribers:
                callback(committed)
        for index, work in enumerate(group):
            work.finish(refused.get(index))

    def _set_health(self, *, healthy: bool, free: int) -> None:
        was_low = self.disk_low
        self.free_bytes = free
        if self.disk_low != was_low:
            if self.disk_low:
                log.error(
                    "spool.disk_low",
                    free_bytes=free,
                    min_free_bytes=self._settings.min_free_bytes,
                )
            else:
                log.info("spool.disk_ok", free_bytes=free)
        if healthy != self.healthy:
            self.healthy = healthy
            if healthy:
                log.info("spool.recovered")
            else:
                log.error("spool.write_failed")


def _restrict(path: Path, mode: int) -> None:
    """Give `path` exactly `mode` (owner-only) if it allows more."""
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode:
        path.chmod(mode)


def _fail(future: asyncio.Future[None], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
