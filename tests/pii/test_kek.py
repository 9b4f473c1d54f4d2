"""One contract suite for every KeyEncryptionKey: a JWK Set file and AWS KMS (emulator)."""

from __future__ import annotations

import orjson
import pytest

from bridge.pii.compact import b64url_decode, b64url_encode
from bridge.pii.errors import KeyUnavailableError, TamperedError
from bridge.pii.keys import new_data_key
from tests.pii.conftest import KekGenerations

SUBJECT = "d2f4a6c8-e0b1-4d3f-a5c7-e9b1d3f5a7c9"


def _header(wrapped_key: str) -> dict[str, str]:
    header: dict[str, str] = orjson.loads(b64url_decode(wrapped_key.split(".", maxsplit=1)[0]))
    return header


async def test_wrap_unwrap_round_trip(keks: KekGenerations) -> None:
    """unwrap(wrap(dek)) is the same DEK; the header names the alg, A256GCM and the KEK."""
    dek = new_data_key(SUBJECT)
    wrapped = await keks.first.wrap(dek)
    expected = {"alg": keks.alg, "enc": "A256GCM", "kid": keks.first_kid}
    assert expected == _header(wrapped)
    assert dek == await keks.first.unwrap(wrapped, subject=SUBJECT, kid=dek.kid)


async def test_wrapped_key_hides_the_dek(keks: KekGenerations) -> None:
    """Neither the DEK bytes nor their base64url appear in the wrapped key."""
    dek = new_data_key(SUBJECT)
    wrapped = await keks.first.wrap(dek)
    assert b64url_encode(dek.key).decode() not in wrapped
    assert dek.key not in wrapped.encode()


async def test_rotation_keeps_old_deks_readable(keks: KekGenerations) -> None:
    """After a new first key, DEKs wrapped by the old key unwrap; new ones use the new key."""
    old = new_data_key(SUBJECT)
    wrapped_old = await keks.first.wrap(old)
    new = new_data_key(SUBJECT)
    wrapped_new = await keks.rotated.wrap(new)
    assert keks.rotated_kid == _header(wrapped_new)["kid"]
    assert old == await keks.rotated.unwrap(wrapped_old, subject=SUBJECT, kid=old.kid)
    assert new == await keks.rotated.unwrap(wrapped_new, subject=SUBJECT, kid=new.kid)


async def test_unknown_kek_fails_cleanly(keks: KekGenerations) -> None:
    """A KEK that does not know the wrapping key raises KeyUnavailableError naming its kid."""
    dek = new_data_key(SUBJECT)
    wrapped = await keks.first.wrap(dek)
    with pytest.raises(KeyUnavailableError) as info:
        await keks.stranger.unwrap(wrapped, subject=SUBJECT, kid=dek.kid)
    assert keks.first_kid == info.value.kid


async def test_wrapped_key_of_another_dek_is_refused(keks: KekGenerations) -> None:
    """A wrapped key presented under another DEK's kid raises TamperedError."""
    dek = new_data_key(SUBJECT)
    wrapped = await keks.first.wrap(dek)
    with pytest.raises(TamperedError):
        await keks.first.unwrap(wrapped, subject=SUBJECT, kid=new_data_key(SUBJECT).kid)


@pytest.mark.parametrize("segment", [1, 2, 3, 4])
async def test_modified_wrapped_key_is_refused(keks: KekGenerations, segment: int) -> None:
    """A changed encrypted key, IV, ciphertext or tag raises TamperedError."""
    dek = new_data_key(SUBJECT)
    parts = (await keks.first.wrap(dek)).split(".")
    raw = bytearray(b64url_decode(parts[segment]))
    raw[-1] ^= 1
    parts[segment] = b64url_encode(bytes(raw)).decode()
    with pytest.raises(TamperedError):
        await keks.first.unwrap(".".join(parts), subject=SUBJECT, kid=dek.kid)


async def test_forget_keeps_unwrapping_possible(keks: KekGenerations) -> None:
    """forget drops caches only: the wrapped key itself still unwraps through the KEK."""
    dek = new_data_key(SUBJECT)
    wrapped = await keks.first.wrap(dek)
    await keks.first.unwrap(wrapped, subject=SUBJECT, kid=dek.kid)
    keks.first.forget(dek.kid)
    keks.first.forget("never-seen")
    assert dek == await keks.first.unwrap(wrapped, subject=SUBJECT, kid=dek.kid)
