"""
Data keys (DEKs) and the records of the compacted keys topic.

One DEK per subject (the record key: a submission id, `token:<id>`, ...), 256
random bits with a random kid. A key record carries the DEK wrapped by a
key-encryption key:

    key   = UTF-8 "<subject>/<kid>"     unique per DEK, so compaction keeps every DEK
                                          of a subject, whichever replica created it
    value = {"subject": ..., "kid": ..., "kek_kid": ..., "wrapped_key": "<JWE>",
             "created_at": "2025-06-30T12:00:00.250Z"}
    value = null                          tombstone: the DEK is erased, header
                                          kyc_erased_at: when its subject was erased

A tombstone erases its subject up to `kyc_erased_at`: every replica that reads
it also erases the subject's other keys created before then (a key a replica
created but had not published when the subject was erased, see
`bridge.delivery.followers`), and copies the time onto their tombstones.

The kid is base64url, so the last `/` of a key separates subject and kid. Pure.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bridge.pii.compact import b64url_decode, b64url_encode, parse_compact
from bridge.pii.errors import KeyRecordError, PiiError, TamperedError
from bridge.publish import Record

__all__ = [
    "ERASED_AT_HEADER",
    "ERASURE_MARK",
    "KEY_BYTES",
    "DataKey",
    "KeyRecord",
    "KeyTombstone",
    "dek_from_jwk",
    "dek_to_jwk",
    "erasure_tombstones",
    "key_record",
    "key_record_key",
    "new_data_key",
    "parse_key_record",
    "stamp",
    "tombstone",
    "tombstone_erased_at",
    "tombstone_headers",
]

KEY_BYTES = 32
ERASED_AT_HEADER = "kyc_erased_at"
#: the kid of the tombstone that carries the erasure time when no key of a subject is known
ERASURE_MARK = "erasure"
_KID_BYTES = 16


@dataclass(frozen=True, slots=True)
class DataKey:
    """A 256-bit data key: its id, its subject, and the key bytes (never in repr)."""

    kid: str
    subject: str
    key: bytes = field(repr=False)
    aead: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """
        Check the key size and prepare the AES-GCM context once.

        Raises:
            ValueError: the key is not 32 bytes, or the kid contains `/`.
        """
        if len(self.key) != KEY_BYTES:
            raise ValueError("a data key is 32 bytes")
        if "/" in self.kid or not self.kid:
            raise ValueError("a data key's kid is non-empty and has no '/'")
        object.__setattr__(self, "aead", AESGCM(self.key))


def new_data_key(subject: str) -> DataKey:
    """Return a fresh random DEK for `subject`, with a random 128-bit base64url kid."""
    kid = base64.urlsafe_b64encode(secrets.token_bytes(_KID_BYTES)).rstrip(b"=").decode()
    return DataKey(kid=kid, subject=subject, key=os.urandom(KEY_BYTES))


def dek_to_jwk(dek: DataKey) -> bytes:
    """Return the DEK as a JWK (RFC 7517) JSON object: `{"kty":"oct","k":...,"kid":...}`."""
    return orjson.dumps({"kty": "oct", "k": b64url_encode(dek.key).decode(), "kid": dek.kid})


def dek_from_jwk(jwk: bytes, *, subject: str, kid: str) -> DataKey:
    """
    Read a DEK from its JWK JSON and check that it is the DEK named `kid`.

    Raises:
        TamperedError: not an `oct` JWK of 256 bits, or its kid is not `kid`.
    """
    try:
        member = orjson.loads(jwk)
    except orjson.JSONDecodeError:
        raise TamperedError("wrapped data key is not a JWK") from None
    if not isinstance(member, dict) or member.get("kty") != "oct":
        raise TamperedError("wrapped data key is not an oct JWK")
    if member.get("kid") != kid:
        raise TamperedError(f"wrapped data key is not the key {kid!r}")
    k = member.get("k")
    key = b64url_decode(k) if isinstance(k, str) else b""
    if len(key) != KEY_BYTES:
        raise TamperedError("wrapped data key is not 256 bits")
    return DataKey(kid=kid, subject=subject, key=key)


def key_record_key(subject: str, kid: str) -> bytes:
    """Return the keys-topic record key of one DEK: UTF-8 `<subject>/<kid>`."""
    return f"{subject}/{kid}".encode()


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A decoded key record: which DEK, wrapped by which KEK, when."""

    subject: str
    kid: str
    kek_kid: str
    wrapped_key: str
    created_at: str


@dataclass(frozen=True, slots=True)
class KeyTombstone:
    """A decoded tombstone: the DEK `kid` of `subject` is erased."""

    subject: str
    kid: str


def stamp(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds (`created_at`, `kyc_erased_at`): sorts as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def tombstone_headers(erased_at: str) -> tuple[tuple[str, bytes], ...]:
    """The headers of a tombstone whose subject was erased at `erased_at` (a `stamp`)."""
    return ((ERASED_AT_HEADER, erased_at.encode()),)


def tombstone(subject: str, kid: str, erased_at: str) -> Record:
    """The tombstone of the DEK `kid` of `subject`, erased at `erased_at` (a `stamp`)."""
    return Record(key_record_key(subject, kid), None, tombstone_headers(erased_at))


def erasure_tombstones(subject: str, kids: Sequence[str], erased_at: str) -> list[Record]:
    """
    The tombstones that erase `subject` at `erased_at`: one per known key, or, when none
    is known, one for `<subject>/erasure` (`ERASURE_MARK`). Each carries `kyc_erased_at`,
    so replicas also erase the keys they hold (or read later) that were created before:
    a key not on the topic yet (its replica could not reach Kafka) must not outlive it.
    """
    return [tombstone(subject, kid, erased_at) for kid in kids or [ERASURE_MARK]]


def tombstone_erased_at(headers: Sequence[tuple[str, bytes]]) -> str | None:
    """When a tombstone's subject was erased; None for a tombstone without the header."""
    for name, value in headers:
        if name == ERASED_AT_HEADER:
            return value.decode("utf-8", "replace")
    return None


def key_record(dek: DataKey, wrapped_key: str, *, created_at: datetime) -> tuple[bytes, bytes]:
    """
    Return the (key, value) of the record that publishes `dek` wrapped as `wrapped_key`.

    `kek_kid` is read from the wrapped key's header, so it names the KEK that really
    wrapped it (for AWS KMS, the key ARN even when an alias was configured).

    Raises:
        TamperedError: `wrapped_key` is not a JWE compact serialization with a string kid.
    """
    kek_kid = parse_compact(wrapped_key).header.get("kid")
    if not isinstance(kek_kid, str):
        raise TamperedError("wrapped key header has no kid")
    value = {
        "subject": dek.subject,
        "kid": dek.kid,
        "kek_kid": kek_kid,
        "wrapped_key": wrapped_key,
        "created_at": stamp(created_at),
    }
    return key_record_key(dek.subject, dek.kid), orjson.dumps(value)


def parse_key_record(key: bytes | None, value: bytes | None) -> KeyRecord | KeyTombstone:
    """
    Decode one record of the keys topic; a None value is a tombstone.

    Raises:
        KeyRecordError: the key is not `<subject>/<kid>`, the value is not the
            documented JSON object, or the value names another subject or kid.
    """
    subject, slash, kid = (key or b"").decode("utf-8", "replace").rpartition("/")
    if not slash or not subject or not kid:
        raise KeyRecordError("key record key is not <subject>/<kid>")
    if value is None:
        return KeyTombstone(subject=subject, kid=kid)
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise KeyRecordError(f"key record {kid!r}: value is not JSON") from None
    names = ("subject", "kid", "kek_kid", "wrapped_key", "created_at")
    if not isinstance(body, dict) or not all(isinstance(body.get(n), str) for n in names):
        raise KeyRecordError(f"key record {kid!r}: value lacks a string {'/'.join(names)}")
    if body["subject"] != subject or body["kid"] != kid:
        raise KeyRecordError(f"key record {kid!r}: value names another subject or kid")
    try:
        parse_compact(str(body["wrapped_key"]))
    except PiiError:
        raise KeyRecordError(f"key record {kid!r}: wrapped_key is not a JWE") from None
    return KeyRecord(*(str(body[n]) for n in names))
