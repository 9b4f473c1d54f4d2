"""The durable spool: fsynced appends in order, caps, restart, single owner, dedup window."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from bridge.config import SpoolSettings
from bridge.delivery.spool import Entry, Spool, SpooledRecord, read_status
from bridge.delivery.spool.layout import migrate
from bridge.delivery.spool.ops import MarkDone
from bridge.errors import SpoolFullError, SpoolUnavailableError
from bridge.publish import Record


def _record(i: int, size: int = 10) -> Record:
    return Record(f"key-{i}".encode(), b"v" * size, (("ce_id", f"id-{i}".encode()),))


async def _put(spool: Spool, event_id: str, record: Record, topic: str = "t") -> SpooledRecord:
    (appended,) = await spool.append([Entry(event_id, topic, record)])
    assert appended.record is not None, appended.outcome
    return appended.record


async def test_appends_get_increasing_sequence_numbers_and_survive_reopen(tmp_path: Path) -> None:
    """Concurrent appends are committed in one order, and a reopened spool returns them all."""
    spool = Spool(SpoolSettings(directory=tmp_path))
    await spool.open()
    stored = await asyncio.gather(*(_put(spool, f"id-{i}", _record(i)) for i in range(50)))
    seqs = [s.seq for s in stored]
    assert sorted(seqs) == seqs
    await spool.close()

    again = Spool(SpoolSettings(directory=tmp_path))
    await again.open()
    rows = await again.read_after(0, 100)
    assert [s.seq for s in stored] == [r.seq for r in rows]
    assert _record(7) == rows[7].record
    assert 50 == again.events
    await again.close()


async def test_more_queued_operations_than_one_group_holds_are_all_applied(
    tmp_path: Path,
) -> None:
    """Regression: the writer used to drop one queued operation per full group of 2,000."""
    spool = Spool(SpoolSettings(directory=tmp_path))
    await spool.open()
    async with asyncio.timeout(60):  # a dropped append never answers
        results = await asyncio.gather(
            *(spool.append([Entry(f"id-{i}", "t", _record(i))]) for i in range(4_500))
        )
    assert 4_500 == sum(1 for (a,) in results if a.outcome == "stored")
    assert 4_500 == len(await spool.read_after(0, 10_000))
    assert 4_500 == spool.events
    await spool.close()


async def test_a_repeat_of_a_pending_or_delivered_id_is_not_stored_again(tmp_path: Path) -> None:
    """Pending and recently delivered ids are answered as repeats; older ones are stored anew."""
    now = [1000.0]
    spool = Spool(SpoolSettings(directory=tmp_path, dedup_window_s=60), clock=lambda: now[0])
    await spool.open()
    first = await _put(spool, "a", _record(1))
    assert ["pending"] == [a.outcome for a in await spool.append([Entry("a", "t", _record(1))])]
    spool.mark_done([first], acked_at=now[0])
    assert ["delivered"] == [a.outcome for a in await spool.append([Entry("a", "t", _record(1))])]
    now[0] += 61  # outside the window: a new delivery
    assert ["stored"] == [a.outcome for a in await spool.append([Entry("a", "t", _record(1))])]
    assert 1 == spool.events
    await spool.close()


async def test_the_dedup_window_is_pruned_by_age_and_capped_while_running(
    tmp_path: Path,
) -> None:
    """Regression: `delivered` grew without bound; now refresh prunes it by age and size."""
    now = [1000.0]
    settings = SpoolSettings(directory=tmp_path, dedup_window_s=100, dedup_max_entries=50)
    spool = Spool(settings, clock=lambda: now[0])
    await spool.open()
    old = [await _put(spool, f"old-{i}", _record(i)) for i in range(30)]
    spool.mark_done(old, acked_at=now[0])
    now[0] += 50
    new = [await _put(spool, f"new-{i}", _record(i)) for i in range(80)]
    spool.mark_done(new, acked_at=now[0])
    assert 50 == (await spool.refresh()).delivered_entries  # capped, newest kept
    assert ["delivered"] == [
        a.outcome for a in await spool.append([Entry("new-79", "t", _record(0))])
    ]
    now[0] += 60  # the first 30 would be out of the window anyway; the 80 are 60 s old
    assert 50 == (await spool.refresh()).delivered_entries
    now[0] += 50
    assert 0 == (await spool.refresh()).delivered_entries
    assert 0 == spool.delivered_entries
    await spool.close()


async def test_done_records_are_forgotten(tmp_path: Path) -> None:
    """mark_done removes rows (committed with the next group) and lowers the counters."""
    spool = Spool(SpoolSettings(directory=tmp_path), clock=lambda: 1000.0)
    await spool.open()
    stored = [await _put(spool, f"id-{i}", _record(i)) for i in range(3)]
    spool.mark_done(stored[:2], acked_at=1000.0)
    assert [stored[2].seq] == [r.seq for r in await spool.read_after(0, 10)]
    assert 1 == spool.events
    await spool.close()


async def test_caps_refuse_before_writing(tmp_path: Path) -> None:
    """Past the event cap, append raises SpoolFullError and nothing is written."""
    spool = Spool(SpoolSettings(directory=tmp_path, max_events=2))
    await spool.open()
    await _put(spool, "a", _record(1))
    await _put(spool, "b", _record(2))
    with pytest.raises(SpoolFullError):
        await _put(spool, "c", _record(3))
    assert 2 == len(await spool.read_after(0, 10))
    await spool.close()


async def test_byte_cap(tmp_path: Path) -> None:
    """The byte cap counts key, value and headers."""
    spool = Spool(SpoolSettings(directory=tmp_path, max_bytes=100))
    await spool.open()
    await _put(spool, "a", _record(1, size=50))
    with pytest.raises(SpoolFullError):
        await _put(spool, "b", _record(2, size=50))
    await spool.close()


async def test_below_the_free_space_reserve_appends_are_refused_but_done_still_works(
    tmp_path: Path,
) -> None:
    """A volume below the reserve refuses new records; deliveries are still recorded."""
    first = Spool(SpoolSettings(directory=tmp_path))
    await first.open()
    await _put(first, "a", _record(1))
    await first.close()
    free = os.statvfs(tmp_path)
    reserve = free.f_bavail * free.f_frsize * 2  # more than the volume will ever have
    spool = Spool(SpoolSettings(directory=tmp_path, min_free_bytes=reserve))
    await spool.open()
    assert spool.disk_low
    assert not spool.has_room(10)
    with pytest.raises(SpoolFullError, match="almost full"):
        await _put(spool, "b", _record(2))
    spool.mark_done(await spool.read_after(0, 10), acked_at=0.0)
    await spool.refresh()
    assert [] == await spool.read_after(0, 10)
    assert 0 == spool.events
    await spool.close()


async def test_one_process_per_spool_directory(tmp_path: Path) -> None:
    """A second owner of the same directory is refused (it would break ordering)."""
    first = Spool(SpoolSettings(directory=tmp_path))
    await first.open()
    second = Spool(SpoolSettings(directory=tmp_path))
    with pytest.raises(SpoolUnavailableError, match="in use"):
        await second.open()
    await first.close()


async def test_unwritable_directory_is_reported(tmp_path: Path) -> None:
    """A spool directory that cannot be created raises SpoolUnavailableError."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    spool = Spool(SpoolSettings(directory=blocker / "spool"))
    with pytest.raises(SpoolUnavailableError):
        await spool.open()


async def test_the_spool_is_readable_only_by_its_owner(tmp_path: Path) -> None:
    """Regression: the spool (decrypted personal data) was 0644 in a 0755 directory."""
    directory = tmp_path / "spool"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    spool = Spool(SpoolSettings(directory=directory))
    await spool.open()
    await _put(spool, "a", _record(1))
    await spool.close()
    assert 0o700 == stat.S_IMODE(directory.stat().st_mode)
    for path in directory.iterdir():
        assert 0o600 == stat.S_IMODE(path.stat().st_mode), path.name


async def test_a_spool_written_by_the_first_release_is_migrated(tmp_path: Path) -> None:
    """An old spool (no `after`/`origin` columns, no indexes) opens and keeps its rows."""
    with sqlite3.connect(tmp_path / "spool.sqlite3") as conn:
        conn.executescript(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,"
            " topic TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, headers BLOB NOT NULL,"
            " accepted_at REAL NOT NULL, size INTEGER NOT NULL);"
            "CREATE TABLE delivered (event_id TEXT PRIMARY KEY, acked_at REAL NOT NULL)"
            " WITHOUT ROWID;"
            "INSERT INTO events (event_id, topic, key, value, headers, accepted_at, size)"
            " VALUES ('old', 't', x'6b', x'76', '[]', 1.0, 2);"
        )
    spool = Spool(SpoolSettings(directory=tmp_path))
    await spool.open()
    (row,) = await spool.read_after(0, 10)
    assert ("old", 0, Record(b"k", b"v")) == (row.event_id, row.after, row.record)
    await spool.close()
    with sqlite3.connect(tmp_path / "spool.sqlite3") as conn:
        migrate(conn)  # idempotent


async def test_status_reads_a_spool_without_taking_it_and_a_missing_one_is_an_error(
    tmp_path: Path,
) -> None:
    """`spool status` figures come from the database; no spool there is a clear error."""
    with pytest.raises(SpoolUnavailableError, match="no spool at"):
        read_status(tmp_path / "nowhere")
    spool = Spool(SpoolSettings(directory=tmp_path), clock=lambda: 1000.0)
    await spool.open()
    done = await _put(spool, "a", _record(1))
    await _put(spool, "b", _record(2), topic="u")
    spool.mark_done([done], acked_at=1000.0)
    await spool.refresh()
    status = read_status(tmp_path, now=1010.0)
    assert (1, {"u": 1}, 1, 10.0) == (
        status.events,
        status.by_topic,
        status.delivered_entries,
        status.oldest_age_s,
    )
    assert status.free_bytes > 0
    await spool.close()


async def test_the_replica_id_is_kept_across_restarts_and_differs_between_spools(
    tmp_path: Path,
) -> None:
    """
    A restarted bridge keeps its replica id (its follower recognizes the state records
    it wrote before the restart as its own); another spool gets another id.
    """
    ids = []
    for directory in (tmp_path / "a", tmp_path / "a", tmp_path / "b"):
        spool = Spool(SpoolSettings(directory=directory))
        await spool.open()
        ids.append(spool.replica)
        await spool.close()
    assert 16 == len(ids[0])
    assert ids[0] == ids[1] != ids[2]


async def test_bookkeeping_of_a_failed_group_is_retried_before_later_bookkeeping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    A group holding one acknowledgement fails while a later acknowledgement waits: the
    first is retried ahead of it, so their follow-ups (state records) keep their order.
    """
    spool = Spool(SpoolSettings(directory=tmp_path), clock=lambda: 1000.0)
    await spool.open()
    stored = []
    for i in range(2):
        followup = Entry(f"state:{i}", "s", _record(100 + i))
        (appended,) = await spool.append([Entry(f"id-{i}", "t", _record(i), followup=followup)])
        assert appended.record is not None
        stored.append(appended.record)
    release = threading.Event()
    original = MarkDone.run
    calls: list[tuple[int, ...]] = []

    def flaky(self: MarkDone, conn: sqlite3.Connection) -> list[SpooledRecord]:
        calls.append(self.seqs)
        if len(calls) == 1:
            release.wait(5)  # the later acknowledgement is queued meanwhile
            raise sqlite3.OperationalError("disk I/O error")
        return original(self, conn)

    monkeypatch.setattr(MarkDone, "run", flaky)
    spool.mark_done(stored[:1], acked_at=1000.0)
    await asyncio.sleep(0.1)  # the writer runs the first acknowledgement's group
    spool.mark_done(stored[1:], acked_at=1000.0)
    await asyncio.sleep(0.1)  # the second is handed to the writer behind it
    release.set()
    async with asyncio.timeout(5):
        while len(pending := await spool.read_after(0, 10)) != 2:
            await asyncio.sleep(0.02)
    assert [(stored[0].seq,), (stored[0].seq,), (stored[1].seq,)] == calls
    assert ["state:0", "state:1"] == [r.event_id for r in pending]
    await spool.close()


async def test_closing_while_acknowledgements_keep_failing_ends_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    The volume fails every write while acknowledgements are queued and the bridge stops:
    the writer gives them up after a few tries instead of retrying forever (a SIGTERM
    would never end), and the records stay spooled, to be published again (duplicates).
    """
    spool = Spool(SpoolSettings(directory=tmp_path), clock=lambda: 1000.0)
    await spool.open()
    stored = [await _put(spool, f"id-{i}", _record(i)) for i in range(2)]

    def failing(self: MarkDone, conn: sqlite3.Connection) -> list[SpooledRecord]:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(MarkDone, "run", failing)
    spool.mark_done(stored, acked_at=1000.0)
    async with asyncio.timeout(10):
        await spool.close()
    monkeypatch.undo()
    again = Spool(SpoolSettings(directory=tmp_path), clock=lambda: 1000.0)
    await again.open()
    assert [r.seq for r in stored] == [r.seq for r in await again.read_after(0, 10)]
    await again.close()
