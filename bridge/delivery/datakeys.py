"""
The data keys of the encrypt mode, on the delivery side.

One data key (DEK) per subject (the record key). `grant` returns the subject's
live DEK: from a bounded in-memory cache, else from the spool's keys table (the
bridge's own keys and those other replicas published, unwrapped with the KEK),
else a new one, whose key record the caller appends *before* the first record
encrypted with it (the spool and relay then publish it first). `erasure`
returns the tombstones that crypto-shred every DEK of a subject. A DEK named in
`erased` is never handed out or cached again, also while the keys table does not
say so yet (its tombstone is being committed, or a grant was unwrapping it).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.delivery.spool import Entry, KeyRow, NewKey, Prerequisite, Spool
from bridge.pii import (
    DataKey,
    KeyEncryptionKey,
    KeyRecord,
    key_record,
    key_record_key,
    new_data_key,
    parse_key_record,
    stamp,
    tombstone,
)
from bridge.pii.errors import KekConfigError, KekUnavailableError, PiiError
from bridge.publish import Record

__all__ = ["DataKeys", "Grant"]

_CACHE = 10_000


@dataclass(frozen=True, slots=True)
class Grant:
    """A subject's DEK, what must be published before it is used, and a new key record."""

    dek: DataKey
    after: Prerequisite | None  # the DEK's key record, while it may still be pending
    record: Entry | None = None  # a new key record to append first
    new_key: NewKey | None = None  # its row for the keys table


class DataKeys:
    """Find, create and erase data keys; see the module docstring."""

    def __init__(
        self,
        spool: Spool,
        kek: KeyEncryptionKey,
        topic: str,
        *,
        cache_size: int = _CACHE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._spool = spool
        self._kek = kek
        self._topic = topic
        self._cache: OrderedDict[str, tuple[DataKey, int]] = OrderedDict()
        self._erased: OrderedDict[str, None] = OrderedDict()  # kids erased lately
        self._size = cache_size
        self._clock = clock

    @property
    def topic(self) -> str:
        """The compacted keys topic."""
        return self._topic

    async def grant(self, subject: str) -> Grant:
        """
        Return the subject's live DEK (a new one when it has none).

        Raises:
            KekUnavailableError, KekConfigError: the KEK could not wrap or unwrap.
        """
        cached = self._cache.get(subject)
        if cached is not None:
            self._cache.move_to_end(subject)
            dek, seq = cached
            return Grant(dek, Prerequisite(self._topic, seq) if seq else None)
        for row in reversed(self._spool.side.keys(subject)):
            if row.erased or row.kid in self._erased:
                continue
            known = await self._unwrap(row)
            if known is not None and known.kid not in self._erased:  # not erased meanwhile
                self._remember(known, row.seq)
                return Grant(known, Prerequisite(self._topic, row.seq) if row.seq else None)
        fresh = new_data_key(subject)
        wrapped = await self._kek.wrap(fresh)
        created = datetime.fromtimestamp(self._clock(), UTC)
        key, value = key_record(fresh, wrapped, created_at=created)
        entry = Entry(f"key:{fresh.kid}", self._topic, Record(key, value))
        return Grant(fresh, None, entry, NewKey(fresh.kid, subject, value, entry=0))

    def adopted(self, grant: Grant, seq: int) -> None:
        """Remember a new DEK once its key record is stored as `seq` (unless erased since)."""
        if grant.dek.kid not in self._erased:
            self._remember(grant.dek, seq)

    async def _unwrap(self, row: KeyRow) -> DataKey | None:
        try:
            record = parse_key_record(key_record_key(row.subject, row.kid), row.value)
            if not isinstance(record, KeyRecord):
                return None
            return await self._kek.unwrap(record.wrapped_key, subject=row.subject, kid=row.kid)
        except (KekUnavailableError, KekConfigError):
            raise
        except PiiError:
            return None  # wrapped by a KEK we no longer have, or damaged: make a new DEK

    def _remember(self, dek: DataKey, seq: int) -> None:
        self._cache[dek.subject] = (dek, seq)
        self._cache.move_to_end(dek.subject)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)

    def erasure(
        self, subject: str, *, granted: DataKey | None = None
    ) -> tuple[list[Entry], list[str]]:
        """
        Return a tombstone for every live DEK of `subject` (all replicas'), and their kids.
        `granted` is the DEK the erasing record itself is encrypted with: when it is new
        (its key record is appended with the tombstones) it is stored nowhere yet.
        """
        kids = [row.kid for row in self._spool.side.keys(subject) if not row.erased]
        cached = self._cache.get(subject)
        for dek in (cached[0] if cached else None, granted):
            if dek is not None and dek.kid not in kids:
                kids.append(dek.kid)
        self.erased(subject, kids)
        erased_at = stamp(datetime.fromtimestamp(self._clock(), UTC))
        return [self.tombstone(subject, kid, erased_at) for kid in kids], kids

    def tombstone(
        self, subject: str, kid: str, erased_at: str, after: Prerequisite | None = None
    ) -> Entry:
        """The tombstone of one DEK of `subject`, erased at `erased_at` (a `stamp`)."""
        return Entry(f"erase:{kid}", self._topic, tombstone(subject, kid, erased_at), after)

    def erased(self, subject: str, kids: Collection[str]) -> None:
        """
        Never hand out or cache these DEKs of `subject` again: call it as soon as they
        are known to be erased, before the keys table says so.
        """
        for kid in kids:
            self._erased[kid] = None
            self._erased.move_to_end(kid)
        while len(self._erased) > self._size:  # the table says so by then
            self._erased.popitem(last=False)
        cached = self._cache.get(subject)
        if cached is not None and cached[0].kid in kids:
            del self._cache[subject]
            self._kek.forget(cached[0].kid)
