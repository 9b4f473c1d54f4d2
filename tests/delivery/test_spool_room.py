"""How often the spool measures its volume, and which groups wait for an fsync."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from bridge.config import SpoolSettings
from bridge.delivery.spool import Entry, Spool
from bridge.delivery.spool.room import FreeSpace
from bridge.errors import SpoolFullError
from bridge.publish import Record

MIB = 1024 * 1024


class Volume:
    """A fake `os.statvfs` whose free space the test sets, counting the calls."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.calls = 0

    def statvfs(self, path: object) -> SimpleNamespace:
        del path
        self.calls += 1
        return SimpleNamespace(f_bavail=self.free // 4096, f_frsize=4096)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(tmp_path / "db.sqlite3")
    yield connection
    connection.close()


@pytest.fixture
def volume(monkeypatch: pytest.MonkeyPatch) -> Volume:
    fake = Volume(free=1024 * MIB)
    monkeypatch.setattr(os, "statvfs", fake.statvfs)
    return fake


def test_far_above_the_reserve_the_figure_is_reused_until_it_is_old(
    tmp_path: Path, conn: sqlite3.Connection, volume: Volume
) -> None:
    """Groups that cannot reach the reserve reuse the last figure for at most max_age_s."""
    clock = Clock()
    room = FreeSpace(tmp_path, 32 * MIB, max_age_s=0.25, clock=clock)
    assert 1024 * MIB == room.before_group(conn, 5_000)
    for _ in range(100):
        clock.now += 0.001
        room.before_group(conn, 5_000)
    assert 1 == volume.calls
    volume.free = 512 * MIB  # another process fills the volume
    clock.now += 0.25
    assert 512 * MIB == room.before_group(conn, 5_000)
    assert 2 == volume.calls


def test_writes_that_could_reach_the_reserve_are_measured_first(
    tmp_path: Path, conn: sqlite3.Connection, volume: Volume
) -> None:
    """Once what was written could have used up half the room, the volume is measured again."""
    volume.free = 11 * MIB  # 10 MiB above a 1 MiB reserve
    room = FreeSpace(tmp_path, MIB, amplification=4, clock=Clock())
    room.before_group(conn, 0)
    room.before_group(conn, MIB)  # 1 MiB x 4 x 2 = 8 MiB < 10 MiB: the figure still holds
    assert 1 == volume.calls
    volume.free = MIB - 4096  # what was written used the room up
    assert MIB - 4096 == room.before_group(conn, MIB // 2)  # 12 MiB >= 10 MiB: measured
    assert 2 == volume.calls


def test_within_one_reserve_of_the_limit_every_group_is_measured(
    tmp_path: Path, conn: sqlite3.Connection, volume: Volume
) -> None:
    """Near the reserve, and below it, every group is measured: refusal and recovery are exact."""
    volume.free = 32 * MIB + 64 * 1024
    room = FreeSpace(tmp_path, 32 * MIB, clock=Clock())
    for calls in range(1, 4):
        assert 32 * MIB + 64 * 1024 == room.before_group(conn, 0)
        assert calls == volume.calls
    volume.free = 32 * MIB - 4096
    for calls in range(4, 7):
        assert 32 * MIB - 4096 == room.before_group(conn, 0)
        assert calls == volume.calls
    volume.free = 64 * MIB
    assert 64 * MIB == room.before_group(conn, 0)


def test_a_failed_measurement_is_retried_by_the_next_group(
    tmp_path: Path, conn: sqlite3.Connection, volume: Volume, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A volume that cannot be queried is not judged by the figure from before the failure."""
    room = FreeSpace(tmp_path, 32 * MIB, clock=Clock())
    room.before_group(conn, 0)

    def broken(path: object) -> None:
        raise OSError("gone")

    monkeypatch.setattr(os, "statvfs", broken)
    with pytest.raises(OSError, match="gone"):
        room.measure(conn)
    with pytest.raises(OSError, match="gone"):  # not the old 1 GiB: measured again
        room.before_group(conn, 0)


async def test_appends_are_refused_as_soon_as_the_volume_drops_below_the_reserve(
    tmp_path: Path, volume: Volume
) -> None:
    """The refusal point does not depend on when the volume was last measured."""
    volume.free = 32 * MIB + 200_000
    spool = Spool(SpoolSettings(directory=tmp_path, min_free_bytes=32 * MIB))
    await spool.open()
    record = Record(b"k", b"v" * 20_000, ())
    (first,) = await spool.append([Entry("a", "t", record)])
    assert "stored" == first.outcome
    volume.free = 32 * MIB - 4096  # what the spool wrote (and others) used the room up
    with pytest.raises(SpoolFullError, match="almost full"):  # measured again: refused
        await spool.append([Entry("b", "t", record)])
    assert spool.disk_low
    await spool.close()


async def test_only_groups_someone_waits_for_are_fsynced(tmp_path: Path) -> None:
    """Appends commit with synchronous=FULL; a group of deliveries only, with NORMAL."""
    spool = Spool(SpoolSettings(directory=tmp_path))
    await spool.open()
    (appended,) = await spool.append([Entry("a", "t", Record(b"k", b"v", ()))])
    assert "FULL" == spool._synchronous
    assert appended.record is not None
    spool.mark_done([appended.record], acked_at=1.0)
    await spool.read_after(0, 10)  # the delivery's group has committed before this read
    assert "NORMAL" == spool._synchronous
    assert 0 == spool.events
    await spool.append([Entry("b", "t", Record(b"k", b"v", ()))])
    assert "FULL" == spool._synchronous
    await spool.close()
    again = Spool(SpoolSettings(directory=tmp_path))
    await again.open()
    assert ["b"] == [r.event_id for r in await again.read_after(0, 10)]
    await again.close()


async def test_only_a_commit_with_its_fsync_marks_a_failed_spool_writable_again(
    tmp_path: Path,
) -> None:
    """Bookkeeping commits without an fsync prove nothing; the /readyz re-check (Prune) does."""
    spool = Spool(SpoolSettings(directory=tmp_path))
    await spool.open()
    (appended,) = await spool.append([Entry("a", "t", Record(b"k", b"v", ()))])
    assert appended.record is not None
    spool.healthy = False  # as after a group whose commit failed
    spool.mark_done([appended.record], acked_at=1.0)
    await spool.read_after(0, 10)  # the delivery's group (NORMAL) has committed
    assert not spool.healthy
    await spool.refresh(count=False)  # what /readyz and the gauges run
    assert spool.healthy
    await spool.close()
