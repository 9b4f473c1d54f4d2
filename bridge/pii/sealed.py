"""
The `protected` member of an encrypted event: a JWE compact serialization.

    protected header = {"alg":"dir","enc":"A256GCM","kid":<DEK kid>,"kyc_event_id":<event_id>}

`dir`: the DEK itself is the content-encryption key, so the encrypted-key segment
is empty (RFC 7518 section 4.5). The event id is a header member rather than JWE
AAD because compact serialization has no separate AAD: the protected header *is*
the AES-GCM additional authenticated data (RFC 7516 section 5.1 step 14). Any
change to `kyc_event_id` breaks the tag, and a reader refuses a token whose
`kyc_event_id` is not the `event_id` of the record carrying it, so a ciphertext
copied into another record does not decrypt there. Every standard JOSE library
reads it (an unknown header member is legal; it is not listed in `crit`).

Hand-built on AESGCM (`bridge.pii.compact`) for speed; the tests decrypt it with
joserfc and jwcrypto and decrypt theirs. Pure.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bridge.pii.compact import CompactJwe, encrypt_compact, parse_compact
from bridge.pii.errors import EventMismatchError, KeyUnavailableError, TamperedError
from bridge.pii.keys import DataKey
from bridge.types import JSONObject

__all__ = ["EVENT_ID_HEADER", "KeyLookup", "open_sealed", "seal", "sealed_kid"]

EVENT_ID_HEADER = "kyc_event_id"

#: kid -> the DEK (or its 32 raw bytes), or None when unknown or erased
KeyLookup = Callable[[str], DataKey | bytes | None]


def seal(plaintext: bytes, dek: DataKey, event_id: str) -> str:
    """Encrypt `plaintext` under `dek`, bound to `event_id`; return the compact JWE."""
    header: JSONObject = {"alg": "dir", "enc": "A256GCM", "kid": dek.kid, EVENT_ID_HEADER: event_id}
    return encrypt_compact(header, plaintext, dek.aead)


def _parse_dir(token: str | bytes) -> tuple[CompactJwe, str]:
    jwe = parse_compact(token)
    header = jwe.header
    if header.get("alg") != "dir" or header.get("enc") != "A256GCM":
        raise TamperedError("sealed value is not alg dir / enc A256GCM")
    if "crit" in header or "zip" in header or jwe.encrypted_key:
        raise TamperedError("sealed value uses crit, zip or an encrypted key")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TamperedError("sealed value has no kid")
    return jwe, kid


def sealed_kid(token: str | bytes) -> str:
    """
    Return the DEK kid a sealed value names, without decrypting it.

    Raises:
        TamperedError: not a compact JWE with alg dir, enc A256GCM and a kid.
    """
    return _parse_dir(token)[1]


def open_sealed(token: str | bytes, lookup: KeyLookup, event_id: str) -> bytes:
    """
    Decrypt a value made by `seal` and check it belongs to the record `event_id`.

    Raises:
        TamperedError: malformed, another algorithm, or authentication failed.
        EventMismatchError: the token's `kyc_event_id` is not `event_id`.
        KeyUnavailableError: `lookup` knows no key with the token's kid (erased or unknown).
    """
    jwe, kid = _parse_dir(token)
    if jwe.header.get(EVENT_ID_HEADER) != event_id:
        raise EventMismatchError("sealed value belongs to another event")
    key = lookup(kid)
    if key is None:
        raise KeyUnavailableError(kid)
    return jwe.decrypt(key.aead if isinstance(key, DataKey) else AESGCM(key))
