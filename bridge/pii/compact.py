"""
JWE compact serialization (RFC 7516 section 7.1) with A256GCM content encryption.

    BASE64URL(protected header) . BASE64URL(encrypted key) . BASE64URL(IV)
        . BASE64URL(ciphertext) . BASE64URL(tag)

The additional authenticated data of the AES-GCM step is the ASCII of the first
segment (RFC 7516 section 5.1 step 14), so every header member is authenticated.
Built directly on `cryptography`'s AESGCM: the hot path cannot afford a general
JOSE library's header registry and key objects (see `bridge.pii.jose`); the tests
check byte compatibility against joserfc and jwcrypto. Pure, no I/O.
"""

from __future__ import annotations

import binascii
import os
from dataclasses import dataclass

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bridge.pii.errors import TamperedError
from bridge.types import JSONObject

__all__ = ["CompactJwe", "b64url_decode", "b64url_encode", "encrypt_compact", "parse_compact"]

_IV_BYTES = 12
_TAG_BYTES = 16
_SEGMENTS = 5
_TO_URL = bytes.maketrans(b"+/", b"-_")
_FROM_URL = bytes.maketrans(b"-_", b"+/")


def b64url_encode(data: bytes) -> bytes:
    """Return unpadded base64url (RFC 7515 section 2) of `data`."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URL).rstrip(b"=")


def b64url_decode(text: bytes | str) -> bytes:
    """
    Decode unpadded base64url strictly.

    Raises:
        TamperedError: a character outside the base64url alphabet, padding, or a bad length.
    """
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    if raw.endswith(b"="):
        raise TamperedError("base64url segment must not be padded")
    try:
        return binascii.a2b_base64(
            raw.translate(_FROM_URL) + b"=" * (-len(raw) % 4), strict_mode=True
        )
    except binascii.Error:
        raise TamperedError("segment is not base64url") from None


@dataclass(frozen=True, slots=True)
class CompactJwe:
    """The five segments of a JWE compact serialization, the header already parsed."""

    header: JSONObject
    header_b64: bytes  # the first segment as sent: the AES-GCM additional data
    encrypted_key: bytes
    iv: bytes
    ciphertext: bytes
    tag: bytes

    def decrypt(self, cek: bytes | AESGCM) -> bytes:
        """
        Return the plaintext, authenticating the header and ciphertext with `cek`.

        Raises:
            TamperedError: the tag does not match (wrong key, or anything was changed).
        """
        aead = cek if isinstance(cek, AESGCM) else AESGCM(cek)
        try:
            return aead.decrypt(self.iv, self.ciphertext + self.tag, self.header_b64)
        except InvalidTag:
            raise TamperedError("authentication failed: wrong key or modified token") from None


def parse_compact(token: str | bytes) -> CompactJwe:
    """
    Split and decode a JWE compact serialization with a 96-bit IV and a 128-bit tag.

    Raises:
        TamperedError: not five segments, not base64url, the header is not a JSON
            object, or the IV or tag has the wrong size.
    """
    raw = token.encode("ascii", "replace") if isinstance(token, str) else token
    parts = raw.split(b".")
    if len(parts) != _SEGMENTS:
        raise TamperedError("not a JWE compact serialization (expected 5 segments)")
    header_b64, key_b64, iv_b64, ct_b64, tag_b64 = parts
    try:
        header = orjson.loads(b64url_decode(header_b64))
    except orjson.JSONDecodeError:
        raise TamperedError("JWE protected header is not JSON") from None
    if not isinstance(header, dict):
        raise TamperedError("JWE protected header is not a JSON object")
    iv, tag = b64url_decode(iv_b64), b64url_decode(tag_b64)
    if len(iv) != _IV_BYTES or len(tag) != _TAG_BYTES:
        raise TamperedError("JWE IV or tag has the wrong size for A256GCM")
    return CompactJwe(header, header_b64, b64url_decode(key_b64), iv, b64url_decode(ct_b64), tag)


def encrypt_compact(
    header: JSONObject,
    plaintext: bytes,
    cek: bytes | AESGCM,
    *,
    encrypted_key: bytes = b"",
    iv: bytes | None = None,
) -> str:
    """
    Return the compact JWE of `plaintext` under `cek` (A256GCM) with `header` protected.

    `header` must already name `alg`, `enc: "A256GCM"` and `kid`; `encrypted_key` is
    the second segment (empty for `alg: "dir"`). A fresh random 96-bit IV every call
    unless `iv` is given (known-answer tests only: never reuse an IV with a key).
    """
    header_b64 = b64url_encode(orjson.dumps(header))
    aead = cek if isinstance(cek, AESGCM) else AESGCM(cek)
    iv = os.urandom(_IV_BYTES) if iv is None else iv
    sealed = aead.encrypt(iv, plaintext, header_b64)
    return b".".join(
        (
            header_b64,
            b64url_encode(encrypted_key),
            b64url_encode(iv),
            b64url_encode(sealed[:-_TAG_BYTES]),
            b64url_encode(sealed[-_TAG_BYTES:]),
        )
    ).decode("ascii")
