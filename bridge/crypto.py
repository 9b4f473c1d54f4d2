"""
ARGOS webhook encryption, as documented by ARGOS (ECB since 2024-08-01):
AES-256-ECB, key = the raw 32-byte SHA-256 digest of the project API key,
PKCS#7 padding, base64 text. Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
from collections.abc import Sequence

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bridge.errors import DecryptionError

__all__ = ["decode_base64", "decrypt", "derive_key", "encrypt"]

_BLOCK_BITS = 128


@functools.lru_cache(maxsize=64)
def derive_key(api_key: str) -> bytes:
    """Return the AES-256 key for an ARGOS API key: SHA-256 of its UTF-8 bytes (cached)."""
    return hashlib.sha256(api_key.encode("utf-8")).digest()


def encrypt(plaintext: bytes, api_key: str) -> str:
    """Encrypt like ARGOS does and return standard, padded base64 text."""
    padder = padding.PKCS7(_BLOCK_BITS).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(derive_key(api_key)), modes.ECB()).encryptor()  # noqa: S305
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def decode_base64(text: str | bytes) -> bytes:
    """
    Decode standard or URL-safe base64, with or without padding, ignoring whitespace.

    Raises:
        DecryptionError: the text is not base64.
    """
    raw = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
    compact = b"".join(raw.split()).replace(b"-", b"+").replace(b"_", b"/").rstrip(b"=")
    try:
        return base64.b64decode(compact + b"=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError("ciphertext is not valid base64") from None


def _decrypt_one(ciphertext: bytes, key: bytes) -> bytes | None:
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    pad = padded[-1]
    # Constant-shape PKCS#7 check; a wrong key almost never yields valid padding.
    if not 1 <= pad <= 16 or not hmac.compare_digest(padded[-pad:], bytes([pad]) * pad):
        return None
    return padded[:-pad]


def decrypt(ciphertext: str | bytes, api_keys: Sequence[str]) -> bytes:
    """
    Decrypt base64 ciphertext with the first of `api_keys` that yields valid padding.

    The caller still has to check that the plaintext is JSON: a wrong key passes
    the padding check about once in 256 tries.

    Raises:
        DecryptionError: not base64, not whole AES blocks, or no key fits.
    """
    data = decode_base64(ciphertext)
    if not data or len(data) % 16:
        raise DecryptionError("ciphertext is not a whole number of AES blocks")
    for api_key in api_keys:
        plaintext = _decrypt_one(data, derive_key(api_key))
        if plaintext is not None:
            return plaintext
    raise DecryptionError("no configured API key decrypts the body")
