"""
Decrypt events for a downstream service: key records in, clear events out.

    decryptor = Decryptor(JwksFileKek.from_file(path))
    decryptor.add_key_record(record.key, record.value)   # every keys-topic record, in order
    event = await decryptor.decrypt_event(record.value)  # every events-topic record

An encrypted event carries its personal `data` fields and `raw` in `protected`
(a JWE whose plaintext is `{"data": {...}, "raw": {...}}`). `decrypt_event`
returns the envelope as `clear` mode publishes it: `data` merged back, `raw`
restored, `protected` removed and `pii` "clear". When the DEK is erased or unknown it
returns the clear fields with `"pii": "erased"`. Records without `protected`
(clear or redacted) come back unchanged.

Key records are kept wrapped and unwrapped on first use (a bounded cache keeps
recent DEKs), so following a large keys topic costs no KMS call per subject.
"""

from __future__ import annotations

from collections import OrderedDict

import orjson

from bridge.pii.envelope import PII_MEMBER, PROTECTED_MEMBER, reveal_envelope
from bridge.pii.errors import TamperedError
from bridge.pii.kek import KeyEncryptionKey
from bridge.pii.keys import DataKey, KeyRecord, KeyTombstone, parse_key_record
from bridge.pii.sealed import sealed_kid
from bridge.types import JSONObject

__all__ = ["DEFAULT_DEK_CACHE_SIZE", "ERASED", "Decryptor"]

ERASED = "erased"
DEFAULT_DEK_CACHE_SIZE = 4096


class Decryptor:
    """Hold the key records of a keys topic and decrypt the events they protect."""

    def __init__(self, kek: KeyEncryptionKey, *, cache_size: int = DEFAULT_DEK_CACHE_SIZE) -> None:
        """Unwrap DEKs with `kek`; keep at most `cache_size` unwrapped DEKs in memory."""
        self._kek = kek
        self._records: dict[str, KeyRecord] = {}
        self._by_subject: dict[str, set[str]] = {}
        self._cache: OrderedDict[str, DataKey] = OrderedDict()
        self._cache_size = cache_size

    def __contains__(self, kid: object) -> bool:
        """Whether a key record for the DEK `kid` is held (not erased)."""
        return kid in self._records

    def __len__(self) -> int:
        return len(self._records)

    def kids(self, subject: str) -> tuple[str, ...]:
        """Return the kids of every DEK of `subject` (from any replica), sorted."""
        return tuple(sorted(self._by_subject.get(subject, ())))

    def add_key_record(self, key: bytes | None, value: bytes | None) -> None:
        """
        Take one keys-topic record: remember a DEK, or forget it on a tombstone.

        Raises:
            KeyRecordError: the record is malformed (the caller decides to skip it).
        """
        record = parse_key_record(key, value)
        if isinstance(record, KeyTombstone):
            self.forget(record.kid)
            return
        previous = self._records.get(record.kid)
        if previous is not None and previous.wrapped_key != record.wrapped_key:
            self._cache.pop(record.kid, None)
        self._records[record.kid] = record
        self._by_subject.setdefault(record.subject, set()).add(record.kid)

    def forget(self, kid: str) -> None:
        """Forget the DEK `kid` everywhere this process holds it (erasure)."""
        record = self._records.pop(kid, None)
        self._cache.pop(kid, None)
        self._kek.forget(kid)
        if record is not None:
            kids = self._by_subject.get(record.subject, set())
            kids.discard(kid)
            if not kids:
                self._by_subject.pop(record.subject, None)

    async def data_key(self, kid: str) -> DataKey | None:
        """
        Return the DEK `kid`, unwrapping it on first use; None when erased or unknown.

        Raises:
            KeyUnavailableError: the KEK that wrapped it is not available.
            TamperedError: the wrapped key does not unwrap to the DEK its record names.
            KekUnavailableError: the key service did not answer (retry later).
        """
        dek = self._cache.get(kid)
        if dek is not None:
            self._cache.move_to_end(kid)
            return dek
        record = self._records.get(kid)
        if record is None:
            return None
        dek = await self._kek.unwrap(record.wrapped_key, subject=record.subject, kid=kid)
        if self._records.get(kid) is record:  # not forgotten meanwhile
            self._cache[kid] = dek
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return dek

    async def decrypt_event(self, value: bytes) -> JSONObject:
        """
        Return the event in `value` as `clear` mode publishes it, or with `"pii": "erased"`.

        Raises:
            TamperedError: not a JSON object, or `protected` or `event_id` is
                malformed or modified (see `reveal_envelope`).
            EventMismatchError: `protected` was copied from another record.
            KeyUnavailableError, KekUnavailableError: see `data_key`.
        """
        try:
            envelope = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise TamperedError("event value is not JSON") from None
        if not isinstance(envelope, dict):
            raise TamperedError("event value is not a JSON object")
        protected = envelope.get(PROTECTED_MEMBER)
        if not isinstance(protected, str):
            return reveal_envelope(envelope, _no_key)
        dek = await self.data_key(sealed_kid(protected))
        if dek is None:
            event = {k: v for k, v in envelope.items() if k not in (PROTECTED_MEMBER, PII_MEMBER)}
            event[PII_MEMBER] = ERASED
            return event
        return reveal_envelope(envelope, {dek.kid: dek}.get)


def _no_key(kid: str) -> None:
    return None
