"""Data keys and key records: values, JWK form, record key and value, tombstones."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from bridge.pii.compact import b64url_encode
from bridge.pii.errors import KeyRecordError, TamperedError
from bridge.pii.keys import (
    ERASED_AT_HEADER,
    DataKey,
    KeyRecord,
    KeyTombstone,
    dek_from_jwk,
    dek_to_jwk,
    key_record,
    key_record_key,
    new_data_key,
    parse_key_record,
    stamp,
    tombstone_erased_at,
    tombstone_headers,
)

SUBJECT = "d2f4a6c8-e0b1-4d3f-a5c7-e9b1d3f5a7c9"
# header {"alg":"A256KW","enc":"A256GCM","kid":"kek-1"}; the other segments are only well-formed
WRAPPED = (
    "eyJhbGciOiJBMjU2S1ciLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoia2VrLTEifQ"
    ".AA.AAAAAAAAAAAAAAAA.AA.AAAAAAAAAAAAAAAAAAAAAA"
)
NOW = datetime(2025, 6, 30, 12, 0, 0, 250_000, tzinfo=UTC)


def test_new_data_keys_are_random_256_bit_with_random_kids() -> None:
    """Two new DEKs of one subject differ in key and kid; the kid is 22 base64url chars."""
    first, second = new_data_key(SUBJECT), new_data_key(SUBJECT)
    assert (32, 32) == (len(first.key), len(second.key))
    assert first.key != second.key
    assert first.kid != second.kid
    assert 22 == len(first.kid)
    assert SUBJECT == first.subject


def test_repr_hides_the_key() -> None:
    """The key bytes never appear in repr (logs, tracebacks)."""
    dek = new_data_key(SUBJECT)
    text = repr(dek)
    assert dek.kid in text
    assert repr(dek.key) not in text
    assert b64url_encode(dek.key).decode() not in text


@pytest.mark.parametrize(
    ("kid", "key"),
    [
        pytest.param("kid", b"\0" * 16, id="short-key"),
        pytest.param("a/b", b"\0" * 32, id="slash-in-kid"),
        pytest.param("", b"\0" * 32, id="empty-kid"),
    ],
)
def test_data_key_rejects_bad_values(kid: str, key: bytes) -> None:
    """A DataKey is 32 bytes with a non-empty kid without '/'."""
    with pytest.raises(ValueError, match="data key"):
        DataKey(kid=kid, subject=SUBJECT, key=key)


def test_jwk_form_round_trip() -> None:
    """The DEK JWK is {"kty":"oct","k":...,"kid":...} and reads back to the same key."""
    dek = new_data_key(SUBJECT)
    jwk = orjson.loads(dek_to_jwk(dek))
    assert {"kty": "oct", "k": b64url_encode(dek.key).decode(), "kid": dek.kid} == jwk
    assert dek == dek_from_jwk(dek_to_jwk(dek), subject=SUBJECT, kid=dek.kid)


@pytest.mark.parametrize(
    "jwk",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b'{"kty":"RSA","kid":"K"}', id="not-oct"),
        pytest.param(b'{"kty":"oct","kid":"other","k":"' + b"A" * 43 + b'"}', id="other-kid"),
        pytest.param(b'{"kty":"oct","kid":"K","k":"AAAA"}', id="short-key"),
    ],
)
def test_jwk_form_rejects_other_keys(jwk: bytes) -> None:
    """A wrapped plaintext that is not the 256-bit oct JWK of the expected kid is refused."""
    with pytest.raises(TamperedError):
        dek_from_jwk(jwk, subject=SUBJECT, kid="K")


def test_key_record_format() -> None:
    """The record key is <subject>/<kid>; the value is the documented JSON object."""
    dek = new_data_key(SUBJECT)
    key, value = key_record(dek, WRAPPED, created_at=NOW)
    assert f"{SUBJECT}/{dek.kid}".encode() == key
    expected = {
        "subject": SUBJECT,
        "kid": dek.kid,
        "kek_kid": "kek-1",
        "wrapped_key": WRAPPED,
        "created_at": "2025-06-30T12:00:00.250Z",
    }
    assert expected == orjson.loads(value)
    assert KeyRecord(SUBJECT, dek.kid, "kek-1", WRAPPED, "2025-06-30T12:00:00.250Z") == (
        parse_key_record(key, value)
    )


def test_two_deks_of_one_subject_have_distinct_record_keys() -> None:
    """Compaction keeps both DEKs of a subject created by two replicas."""
    first, second = new_data_key(SUBJECT), new_data_key(SUBJECT)
    assert (
        key_record(first, WRAPPED, created_at=NOW)[0]
        != (key_record(second, WRAPPED, created_at=NOW)[0])
    )


@pytest.mark.parametrize("subject", [SUBJECT, "token:abc", "a/b/c"])
def test_tombstone_parses_subject_and_kid(subject: str) -> None:
    """A null value is a tombstone; the last '/' of the key separates subject and kid."""
    assert KeyTombstone(subject, "kid1") == parse_key_record(key_record_key(subject, "kid1"), None)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param(None, None, id="no-key"),
        pytest.param(b"no-slash", None, id="key-without-slash"),
        pytest.param(b"s/k", b"not json", id="value-not-json"),
        pytest.param(b"s/k", b'{"subject":"s","kid":"k"}', id="members-missing"),
        pytest.param(
            b"s/k",
            orjson.dumps(
                {
                    "subject": "t",
                    "kid": "k",
                    "kek_kid": "x",
                    "wrapped_key": WRAPPED,
                    "created_at": "x",
                }
            ),
            id="other-subject",
        ),
        pytest.param(
            b"s/k",
            orjson.dumps(
                {
                    "subject": "s",
                    "kid": "k",
                    "kek_kid": "x",
                    "wrapped_key": "a.b",
                    "created_at": "x",
                }
            ),
            id="wrapped-not-jwe",
        ),
    ],
)
def test_malformed_key_records_raise(key: bytes | None, value: bytes | None) -> None:
    """Every malformed key record is one KeyRecordError."""
    with pytest.raises(KeyRecordError):
        parse_key_record(key, value)


def test_tombstone_headers_carry_the_erasure_time_and_it_sorts_with_created_at() -> None:
    """`kyc_erased_at` round-trips, and compares as text with a key's `created_at`."""
    erased = datetime(2026, 12, 6, 19, 0, 0, 250_999, tzinfo=UTC)
    headers = tombstone_headers(stamp(erased))
    assert [(ERASED_AT_HEADER, b"2026-12-06T19:00:00.250Z")] == list(headers)
    assert "2026-12-06T19:00:00.250Z" == tombstone_erased_at(headers)
    assert tombstone_erased_at([("other", b"x")]) is None
    created = stamp(datetime(2026, 12, 6, 18, 59, 59, 999_000, tzinfo=UTC))
    assert created < str(tombstone_erased_at(headers))
