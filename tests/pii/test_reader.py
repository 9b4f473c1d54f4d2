"""Decryptor: key records in, clear events out; erasure, two replicas, rotation."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from bridge.pii.envelope import protect_envelope
from bridge.pii.errors import KeyRecordError, TamperedError
from bridge.pii.kek import KeyEncryptionKey
from bridge.pii.keys import DataKey, key_record, key_record_key, new_data_key
from bridge.pii.paths import PiiTree
from bridge.pii.reader import Decryptor
from bridge.types import JSONObject
from tests.pii.conftest import KekGenerations

NOW = datetime(2025, 6, 30, 12, tzinfo=UTC)
TREE: PiiTree = {"email": True, "review": {"comment": True}}


def clear_event(event_id: str, subject: str) -> JSONObject:
    """Return a clear-mode envelope with personal fields, for `subject`."""
    return {
        "event_id": event_id,
        "event_type": "kyc.rejected",
        "subject": subject,
        "pii": "clear",
        "data": {
            "submission_id": subject,
            "email": f"{subject}@example.com",
            "review": {"reviewer": "agent", "comment": "CANARY comment"},
            "status": "rejected",
        },
        "raw": {"submission_id": subject, "email": f"{subject}@example.com"},
    }


async def publish_key(kek: KeyEncryptionKey, dek: DataKey) -> tuple[bytes, bytes]:
    """Return the key record the bridge publishes for `dek`."""
    return key_record(dek, await kek.wrap(dek), created_at=NOW)


def protected_value(event: JSONObject, dek: DataKey) -> bytes:
    """Return the record value the bridge publishes in encrypt mode."""
    return orjson.dumps({**protect_envelope(event, TREE, dek), "pii": "encrypted"})


async def test_decrypts_back_to_the_clear_event(keks: KekGenerations) -> None:
    """With the key record added, decrypt_event returns exactly the clear-mode envelope."""
    decryptor = Decryptor(keks.first)
    dek = new_data_key("sub-1")
    decryptor.add_key_record(*await publish_key(keks.first, dek))
    event = clear_event("e1", "sub-1")
    assert event == await decryptor.decrypt_event(protected_value(event, dek))
    assert ("sub-1" in decryptor, dek.kid in decryptor, 1) == (False, True, len(decryptor))


async def test_unknown_kid_reads_as_erased(keks: KekGenerations) -> None:
    """Without the DEK the clear fields come back with pii=erased, no personal data."""
    dek = new_data_key("sub-1")
    event = clear_event("e1", "sub-1")
    erased = await Decryptor(keks.first).decrypt_event(protected_value(event, dek))
    expected = {
        "event_id": "e1",
        "event_type": "kyc.rejected",
        "subject": "sub-1",
        "data": {"submission_id": "sub-1", "review": {"reviewer": "agent"}, "status": "rejected"},
        "pii": "erased",
    }
    assert expected == erased


async def test_tombstones_erase_every_dek_of_a_subject_and_nothing_else(
    keks: KekGenerations,
) -> None:
    """Two replicas' DEKs of one subject both decrypt; tombstoning both erases only them."""
    decryptor = Decryptor(keks.first)
    replica_a, replica_b, other = new_data_key("sub-1"), new_data_key("sub-1"), new_data_key("s2")
    for dek in (replica_a, replica_b, other):
        decryptor.add_key_record(*await publish_key(keks.first, dek))
    values = [
        protected_value(clear_event("e1", "sub-1"), replica_a),
        protected_value(clear_event("e2", "sub-1"), replica_b),
        protected_value(clear_event("e3", "s2"), other),
    ]
    assert tuple(sorted([replica_a.kid, replica_b.kid])) == decryptor.kids("sub-1")
    assert ["clear", "clear", "clear"] == [
        (await decryptor.decrypt_event(v)).get("pii") for v in values
    ]
    for kid in decryptor.kids("sub-1"):
        decryptor.add_key_record(key_record_key("sub-1", kid), None)
    assert ["erased", "erased", "clear"] == [
        (await decryptor.decrypt_event(v)).get("pii") for v in values
    ]
    assert ((), 1) == (decryptor.kids("sub-1"), len(decryptor))


async def test_old_records_decrypt_after_kek_rotation(keks: KekGenerations) -> None:
    """Key records wrapped by the old KEK decrypt with the rotated KEK configuration."""
    dek = new_data_key("sub-1")
    record = await publish_key(keks.first, dek)
    decryptor = Decryptor(keks.rotated)
    decryptor.add_key_record(*record)
    event = clear_event("e1", "sub-1")
    assert event == await decryptor.decrypt_event(protected_value(event, dek))


async def test_small_cache_still_decrypts_everything(keks: KekGenerations) -> None:
    """With room for one unwrapped DEK, alternating subjects still decrypt (re-unwrapping)."""
    decryptor = Decryptor(keks.first, cache_size=1)
    deks = [new_data_key(f"s{i}") for i in range(3)]
    for dek in deks:
        decryptor.add_key_record(*await publish_key(keks.first, dek))
    for round_ in range(2):
        for i, dek in enumerate(deks):
            event = clear_event(f"e{round_}{i}", dek.subject)
            assert event == await decryptor.decrypt_event(protected_value(event, dek))


async def test_clear_records_pass_through(keks: KekGenerations) -> None:
    """A record without `protected` comes back unchanged."""
    event = clear_event("e1", "sub-1")
    assert event == await Decryptor(keks.first).decrypt_event(orjson.dumps(event))


@pytest.mark.parametrize("value", [b"not json", b"[1, 2]", b'{"event_id": "e", "protected": 1}'])
async def test_malformed_values_raise_tampered(keks: KekGenerations, value: bytes) -> None:
    """A value that is not a JSON object, or a non-string protected, is TamperedError."""
    with pytest.raises(TamperedError):
        await Decryptor(keks.first).decrypt_event(value)


def test_malformed_key_record_raises(keks: KekGenerations) -> None:
    """add_key_record refuses a malformed record; the caller decides to skip it."""
    with pytest.raises(KeyRecordError):
        Decryptor(keks.first).add_key_record(b"sub-1/kid", b"{}")
