"""The durable spool: fsynced appends in order, caps, restart, single owner."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bridge.config import SpoolSettings
from bridge.delivery.spool import Spool
from bridge.errors import SpoolFullError, SpoolUnavailableError
from bridge.publish.base import Record


def _record(i: int, size: int = 10) -> Record:
    return Record(f"key-{i}".encode(), b"v" * size, (("ce_id", f"id-{i}".encode()),))


async def test_appends_get_increasing_sequence_numbers_and_survive_reopen(tmp_path: Path) -> None:
    """Concurrent appends are committed in one order, and a reopened spool returns them all."""
    spool = Spool(SpoolSettings(directory=tmp_path))
    await spool.open()
    stored = await asyncio.gather(*(spool.append(f"id-{i}", "t", _record(i)) for i in range(50)))
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


async def test_done_records_are_forgotten_and_remembered_as_delivered(tmp_path: Path) -> None:
    """mark_done removes rows and records their ids for the dedup window."""
    spool = Spool(SpoolSettings(directory=tmp_path), clock=lambda: 1000.0)
    await spool.open()
    stored = [await spool.append(f"id-{i}", "t", _record(i)) for i in range(3)]
    spool.mark_done(stored[:2], acked_at=1000.0)
    assert [stored[2].seq] == [r.seq for r in await spool.read_after(0, 10)]
    assert [("id-0", 1000.0), ("id-1", 1000.0)] == await spool.delivered_since(0)
    assert [] == await spool.delivered_since(2000.0)
    assert 1 == spool.events
    await spool.close()


async def test_caps_refuse_before_writing(tmp_path: Path) -> None:
    """Past the event cap, append raises SpoolFullError and nothing is written."""
    spool = Spool(SpoolSettings(directory=tmp_path, max_events=2))
    await spool.open()
    await spool.append("a", "t", _record(1))
    await spool.append("b", "t", _record(2))
    with pytest.raises(SpoolFullError):
        await spool.append("c", "t", _record(3))
    assert 2 == len(await spool.read_after(0, 10))
    await spool.close()


async def test_byte_cap(tmp_path: Path) -> None:
    """The byte cap counts key, value and headers."""
    spool = Spool(SpoolSettings(directory=tmp_path, max_bytes=100))
    await spool.open()
    await spool.append("a", "t", _record(1, size=50))
    with pytest.raises(SpoolFullError):
        await spool.append("b", "t", _record(2, size=50))
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
