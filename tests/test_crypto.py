"""ARGOS encryption: AES-256-ECB, key = SHA-256(API key), PKCS#7, base64."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge import crypto
from bridge.errors import DecryptionError

# Known-answer vector produced with OpenSSL 3 (independent of this code base):
#   KEY=$(printf '%s' 'argos-test-api-key-0001' | openssl dgst -sha256 -binary | xxd -p -c 64)
#   printf '%s' '{"webhook_trigger":"approved","submission_id":"sub_kat_1"}' \
#     | openssl enc -aes-256-ecb -K $KEY -nosalt -base64 -A
KAT_API_KEY = "argos-test-api-key-0001"
KAT_KEY_HEX = "8f2d4d320a5236391086921187fa9e7d49bfac60cf509c8a89ba8e79a54fb295"
KAT_PLAINTEXT = b'{"webhook_trigger":"approved","submission_id":"sub_kat_1"}'
KAT_CIPHERTEXT = (
    "J3Ds1hI/5zbRrftGnOODarwGl3cU/0vcSYfylKNhRGZmIIcWXaG+wBj68VPTSceR2ubrl0Zi5RRXaFNOexw7Xw=="
)


def test_key_is_raw_sha256_digest_of_api_key() -> None:
    """The AES key is the 32-byte SHA-256 digest of the API key's UTF-8 bytes."""
    assert bytes.fromhex(KAT_KEY_HEX) == crypto.derive_key(KAT_API_KEY)


def test_encrypt_matches_openssl_vector() -> None:
    """Encryption reproduces the OpenSSL known-answer ciphertext byte for byte."""
    assert KAT_CIPHERTEXT == crypto.encrypt(KAT_PLAINTEXT, KAT_API_KEY)


def test_decrypt_openssl_vector() -> None:
    """Decryption recovers the plaintext of the OpenSSL vector."""
    assert KAT_PLAINTEXT == crypto.decrypt(KAT_CIPHERTEXT, [KAT_API_KEY])


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(KAT_CIPHERTEXT, id="standard-padded"),
        pytest.param(KAT_CIPHERTEXT.rstrip("="), id="standard-unpadded"),
        pytest.param(KAT_CIPHERTEXT.replace("+", "-").replace("/", "_"), id="urlsafe-padded"),
        pytest.param(
            KAT_CIPHERTEXT.replace("+", "-").replace("/", "_").rstrip("="), id="urlsafe-unpadded"
        ),
        pytest.param(KAT_CIPHERTEXT[:40] + "\n" + KAT_CIPHERTEXT[40:], id="line-wrapped"),
    ],
)
def test_decrypt_accepts_every_base64_flavour(variant: str) -> None:
    """Standard and URL-safe base64, with or without padding or line breaks, all decrypt."""
    assert KAT_PLAINTEXT == crypto.decrypt(variant, [KAT_API_KEY])


def test_decrypt_tries_every_key_for_rotation() -> None:
    """With several keys configured, the one that fits is used whatever its position."""
    assert KAT_PLAINTEXT == crypto.decrypt(KAT_CIPHERTEXT, ["old-key", "other", KAT_API_KEY])


@pytest.mark.parametrize(
    ("ciphertext", "keys"),
    [
        pytest.param(KAT_CIPHERTEXT, ["wrong-key"], id="wrong-key"),
        pytest.param("not base64 at all!", [KAT_API_KEY], id="not-base64"),
        pytest.param(base64.b64encode(b"short").decode(), [KAT_API_KEY], id="not-whole-blocks"),
        pytest.param("", [KAT_API_KEY], id="empty"),
        pytest.param(KAT_CIPHERTEXT, [], id="no-keys"),
    ],
)
def test_decrypt_failures_raise_decryption_error(ciphertext: str, keys: list[str]) -> None:
    """Every way decryption can fail is one error type whose message carries no data."""
    with pytest.raises(DecryptionError) as info:
        crypto.decrypt(ciphertext, keys)
    assert KAT_API_KEY not in info.value.message


@given(plaintext=st.binary(max_size=2048), api_key=st.text(min_size=1, max_size=64))
def test_round_trip(plaintext: bytes, api_key: str) -> None:
    """decrypt(encrypt(x)) == x for any bytes and any API key."""
    assert plaintext == crypto.decrypt(crypto.encrypt(plaintext, api_key), [api_key])
