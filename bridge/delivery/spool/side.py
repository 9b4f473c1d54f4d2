"""
The spool's side tables: data keys, subjects' erasure times, submission state and
follower cursors
(local caches of the keys and state topics; see `layout`).

Writes happen on the writer thread, inside the transaction of the append they
belong to (`SideWrite`) or of a followed batch (`ApplyFollowed`). Reads of
single rows happen on the event loop through `SideReader`'s own read-only
connection (WAL readers never wait for the writer).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "STATE_UPSERT",
    "KeyRow",
    "NewKey",
    "SideReader",
    "SideWrite",
    "StateRow",
    "apply_followed",
]


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One data key as stored: its key-record value, the spool seq of that record if it
    was created here (0 when followed from the topic), and whether it is erased."""

    kid: str
    subject: str
    value: bytes
    seq: int = 0
    erased: bool = False


@dataclass(frozen=True, slots=True)
class NewKey:
    """A data key created by an append; `entry` is the index of its key record there."""

    kid: str
    subject: str
    value: bytes
    entry: int


@dataclass(frozen=True, slots=True)
class StateRow:
    """A submission's current state value and the ARGOS status time it holds."""

    subject: str
    status_time: str | None
    value: bytes


STATE_UPSERT = (
    "INSERT INTO state (subject, status_time, value) VALUES (?, ?, ?) "
    "ON CONFLICT (subject) DO UPDATE SET status_time = excluded.status_time, "
    "value = excluded.value "
    "WHERE coalesce(excluded.status_time, '') >= coalesce(state.status_time, '')"
)


@dataclass(frozen=True, slots=True)
class SideWrite:
    """What an append also records, applied only if its entry `primary` was stored."""

    primary: int
    keys: tuple[NewKey, ...] = ()
    erase: str | None = None  # a subject whose data keys are now erased

    def apply(self, conn: sqlite3.Connection, seqs: Sequence[int]) -> None:
        """Write the side rows; `seqs[i]` is the seq of entry i (0 if not stored)."""
        for key in self.keys:
            conn.execute(
                "INSERT OR REPLACE INTO keys (kid, subject, value, seq) VALUES (?, ?, ?, ?)",
                (key.kid, key.subject, key.value, seqs[key.entry]),
            )
        if self.erase is not None:
            conn.execute("UPDATE keys SET erased = 1 WHERE subject = ?", (self.erase,))


_ERASURE_UPSERT = (
    "INSERT INTO erasures (subject, erased_at) VALUES (?, ?) "
    "ON CONFLICT (subject) DO UPDATE SET erased_at = excluded.erased_at "
    "WHERE excluded.erased_at > erasures.erased_at"
)


def apply_followed(
    conn: sqlite3.Connection,
    keys: Sequence[KeyRow],
    states: Sequence[StateRow],
    cursors: Sequence[tuple[str, int, int]],
    erasures: Sequence[tuple[str, str]] = (),
) -> None:
    """
    Record what a follower read: key rows (tombstones as erased), subjects' erasure
    times (the later one is kept), newer states, cursors.
    """
    for key in keys:
        if key.erased:
            conn.execute("UPDATE keys SET erased = 1 WHERE kid = ?", (key.kid,))
        else:
            conn.execute(
                "INSERT INTO keys (kid, subject, value) VALUES (?, ?, ?) "
                "ON CONFLICT (kid) DO NOTHING",
                (key.kid, key.subject, key.value),
            )
    conn.executemany(_ERASURE_UPSERT, erasures)
    for state in states:
        conn.execute(STATE_UPSERT, (state.subject, state.status_time, state.value))
    conn.executemany(
        "INSERT OR REPLACE INTO cursors (topic, partition, next_offset) VALUES (?, ?, ?)",
        cursors,
    )


class SideReader:
    """Point reads of the side tables on the event loop thread."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)

    def close(self) -> None:
        """Close the read connection."""
        self._conn.close()

    def state(self, subject: str) -> bytes | None:
        """The state value of `subject`, if any."""
        row = self._conn.execute("SELECT value FROM state WHERE subject = ?", (subject,)).fetchone()
        return bytes(row[0]) if row else None

    def keys(self, subject: str) -> list[KeyRow]:
        """Every data key of `subject` (erased ones too), oldest first."""
        rows = self._conn.execute(
            "SELECT kid, value, seq, erased FROM keys WHERE subject = ? ORDER BY rowid",
            (subject,),
        )
        return [KeyRow(str(k), subject, bytes(v), int(s), bool(e)) for k, v, s, e in rows]

    def erased_at(self, subject: str) -> str | None:
        """The latest erasure time (`kyc_erased_at`) read for `subject`, if any."""
        row = self._conn.execute(
            "SELECT erased_at FROM erasures WHERE subject = ?", (subject,)
        ).fetchone()
        return str(row[0]) if row else None

    def cursors(self, topic: str) -> dict[int, int]:
        """Partition -> next offset a follower of `topic` reads."""
        rows = self._conn.execute(
            "SELECT partition, next_offset FROM cursors WHERE topic = ?", (topic,)
        )
        return {int(p): int(o) for p, o in rows}
