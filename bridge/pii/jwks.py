"""
`JwksFileKek`: key-encryption keys from a JWK Set file (`BRIDGE_PII_KEK_FILE`).

    {"keys": [{"kty": "oct", "kid": "kek-2025-07", "k": "<43 base64url chars>"},
              {"kty": "oct", "kid": "kek-2025-01", "k": "..."}]}

Every key is `kty: "oct"` with 256 bits and a unique `kid`. The first one wraps new
DEKs; the others still unwrap (rotation: put the new key first, keep the old ones
until every key record wrapped by them is gone). A DEK is wrapped with AES Key Wrap
(`alg: "A256KW"`, RFC 7518 section 4.4) and `enc: "A256GCM"`: wrapping (once per new
subject, on the webhook's path) with `cryptography`'s RFC 3394 key wrap and the
bridge's compact JWE code, 5x cheaper than a general JOSE library; unwrapping (rare)
by joserfc, which also checks every wrapped key the tests produce. Errors name the
file and the problem, never key material; nothing here logs.
"""

from __future__ import annotations

import binascii
import os
from pathlib import Path

import orjson
from cryptography.hazmat.primitives.keywrap import aes_key_wrap
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from bridge.pii.compact import b64url_decode, encrypt_compact, parse_compact
from bridge.pii.errors import KekConfigError, KeyUnavailableError, PiiError, TamperedError
from bridge.pii.keys import KEY_BYTES, DataKey, dek_from_jwk, dek_to_jwk
from bridge.types import JSONObject, JSONValue

__all__ = ["JwksFileKek"]

_REGISTRY = jwe.JWERegistry(algorithms=["A256KW", "A256GCM"])


def _load_key(index: int, member: JSONValue, source: str) -> tuple[str, OctKey, bytes]:
    where = f"{source}: keys[{index}]"
    if not isinstance(member, dict) or member.get("kty") != "oct":
        raise KekConfigError(f"{where} is not a JWK with kty 'oct'")
    kid, k = member.get("kid"), member.get("k")
    if not isinstance(kid, str) or not kid:
        raise KekConfigError(f"{where} has no kid")
    try:
        raw = b64url_decode(k) if isinstance(k, str) else b""
    except (PiiError, binascii.Error):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise KekConfigError(f"{where} (kid {kid!r}): k is not 256 bits of base64url")
    return kid, OctKey.import_key({"kty": "oct", "k": str(k), "kid": kid}), raw


class JwksFileKek:
    """Wrap with the first key of a JWK Set; unwrap with any of its keys."""

    def __init__(self, jwks: bytes, *, source: str = "JWK Set") -> None:
        """
        Read a JWK Set document; `source` names it in error messages.

        Raises:
            KekConfigError: not JSON, no keys, a key that is not a 256-bit oct JWK
                with a kid, or two keys with the same kid.
        """
        try:
            document = orjson.loads(jwks)
        except orjson.JSONDecodeError:
            raise KekConfigError(f"{source}: not JSON") from None
        members = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(members, list) or not members:
            raise KekConfigError(f"{source}: no 'keys' array with at least one key")
        self._keys: dict[str, OctKey] = {}
        wrapping = b""
        for index, member in enumerate(members):
            kid, key, raw = _load_key(index, member, source)
            if kid in self._keys:
                raise KekConfigError(f"{source}: kid {kid!r} appears twice")
            self._keys[kid] = key
            wrapping = wrapping or raw
        self._kid = next(iter(self._keys))
        self._wrapping = wrapping  # the first key's bytes

    @classmethod
    def from_file(cls, path: Path) -> JwksFileKek:
        """
        Load the JWK Set file at `path`.

        Raises:
            KekConfigError: the file cannot be read, or its content is not a usable JWK Set.
        """
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise KekConfigError(f"KEK file {path}: cannot read ({exc.strerror})") from None
        return cls(content, source=f"KEK file {path}")

    @property
    def kid(self) -> str:
        """The kid of the first key of the set: it wraps new DEKs."""
        return self._kid

    @property
    def kids(self) -> tuple[str, ...]:
        """Every kid of the set, in file order."""
        return tuple(self._keys)

    def __repr__(self) -> str:
        return f"JwksFileKek(kids={list(self._keys)!r})"

    async def wrap(self, dek: DataKey) -> str:
        """Return `dek` as a JWK wrapped with A256KW / A256GCM under the first key."""
        header: JSONObject = {"alg": "A256KW", "enc": "A256GCM", "kid": self._kid}
        cek = os.urandom(KEY_BYTES)  # a fresh content key per wrapped DEK
        wrapped = aes_key_wrap(self._wrapping, cek)
        return encrypt_compact(header, dek_to_jwk(dek), cek, encrypted_key=wrapped)

    async def unwrap(self, wrapped_key: str, *, subject: str, kid: str) -> DataKey:
        """
        Return the DEK `kid` of `subject` from `wrapped_key` (any key of the set).

        Raises:
            KeyUnavailableError: the header's kid is not in the set.
            TamperedError: not A256KW / A256GCM, modified, or not the DEK `kid`.
        """
        header = parse_compact(wrapped_key).header
        if header.get("alg") != "A256KW" or header.get("enc") != "A256GCM":
            raise TamperedError("wrapped key is not alg A256KW / enc A256GCM")
        kek_kid = header.get("kid")
        key = self._keys.get(kek_kid) if isinstance(kek_kid, str) else None
        if key is None:
            raise KeyUnavailableError(str(kek_kid), f"no KEK with kid {kek_kid!r} in the set")
        try:
            plaintext = jwe.decrypt_compact(wrapped_key, key, registry=_REGISTRY).plaintext
        except (JoseError, ValueError):
            raise TamperedError("wrapped key does not unwrap: modified or wrong KEK") from None
        return dek_from_jwk(plaintext or b"", subject=subject, kid=kid)

    def forget(self, kid: str) -> None:
        """Do nothing: this adapter caches no DEK."""
