"""
The spool's table layout, in one place, and the migration of older spools.

    events     pending records in acceptance order (`seq`); `after`/`after_topic`
               name a record Kafka must acknowledge first; `origin` is what a
               dead letter keeps if Kafka refuses the record; `tombstone` marks a
               record whose value is null (a compaction tombstone); `followup` is a
               record appended once Kafka acknowledged this one (its state record)
    delivered  ids Kafka acknowledged: the dedup window
    keys       the data keys of the encrypt mode: one row per key record (own and
               followed from the keys topic), `erased` once tombstoned
    state      the current state of each submission (the state topic's view)
    erasures   the latest erasure time (`kyc_erased_at`) read for each subject: a key
               record of the subject read later, created before it, is erased too
    cursors    how far the followers have read the keys and state topics
    identity   one row: the replica id this spool's owner writes into its state
               records (kept across restarts, so its follower knows them as its own)

`keys`, `state`, `erasures` and `cursors` are local caches of Kafka topics: deleting them
only costs a re-read of those topics.
"""

from __future__ import annotations

import secrets
import sqlite3

__all__ = ["migrate", "replica_of"]

_TABLES = """
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
CREATE TABLE IF NOT EXISTS keys (
    kid TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    value BLOB NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    erased INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS state (
    subject TEXT PRIMARY KEY,
    status_time TEXT,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS erasures (
    subject TEXT PRIMARY KEY,
    erased_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cursors (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS identity (
    replica BLOB NOT NULL
);
"""
# Columns added after the first release; `migrate` adds them to old spools.
_COLUMNS = {
    "after": "INTEGER NOT NULL DEFAULT 0",
    "after_topic": "TEXT",
    "origin": "BLOB",
    "tombstone": "INTEGER NOT NULL DEFAULT 0",
    "followup": "BLOB",
}
_INDEXES = """
CREATE INDEX IF NOT EXISTS events_by_id ON events (event_id);
CREATE INDEX IF NOT EXISTS events_by_topic ON events (topic, seq);
CREATE INDEX IF NOT EXISTS delivered_by_time ON delivered (acked_at);
CREATE INDEX IF NOT EXISTS keys_by_subject ON keys (subject);
"""


def migrate(conn: sqlite3.Connection) -> None:
    """Create the tables, or bring a spool written by an earlier version up to date."""
    conn.executescript(_TABLES)
    have = {str(row[1]) for row in conn.execute("PRAGMA table_info(events)")}
    for name, kind in _COLUMNS.items():
        if name not in have:
            conn.execute(f"ALTER TABLE events ADD COLUMN {name} {kind}")
    conn.executescript(_INDEXES)


def replica_of(conn: sqlite3.Connection) -> bytes:
    """Return the spool's replica id, choosing one (16 hex digits) the first time."""
    row = conn.execute("SELECT replica FROM identity").fetchone()
    if row is not None:
        return bytes(row[0])
    replica = secrets.token_hex(8).encode()
    conn.execute("INSERT INTO identity (replica) VALUES (?)", (replica,))
    return replica
