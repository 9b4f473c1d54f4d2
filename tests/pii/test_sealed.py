"""The `protected` JWE: round trip, typed failures, and interoperability with two JOSE libraries."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwe as joserfc_jwe
from joserfc.jwk import OctKey
from joserfc.registry import HeaderParameter
from jwcrypto import jwe as jwcrypto_jwe
from jwcrypto import jwk as jwcrypto_jwk

from bridge.pii.compact import b64url_decode, b64url_encode
from bridge.pii.errors import EventMismatchError, KeyUnavailableError, TamperedError
from bridge.pii.keys import DataKey, new_data_key
from bridge.pii.sealed import open_sealed, seal, sealed_kid

EVENT_ID = "bb4deb73-235a-822d-bc67-be6f0f7c08a1"
OTHER_EVENT_ID = "8efb9ad0-869d-8119-a87b-dbe69f59cf18"
PLAINTEXT = b'{"data":{"email":"canary@example.com"},"raw":{"fullName":"CANARY"}}'
JOSERFC_REGISTRY = joserfc_jwe.JWERegistry(
    header_registry={"kyc_event_id": HeaderParameter("event id", "str")},
    algorithms=["dir", "A256GCM"],
)


@pytest.fixture(name="dek")
def _dek() -> DataKey:
    """A fresh data key for one subject."""
    return new_data_key("d2f4a6c8-e0b1-4d3f-a5c7-e9b1d3f5a7c9")


def _jwcrypto_key(dek: DataKey) -> jwcrypto_jwk.JWK:
    return jwcrypto_jwk.JWK(kty="oct", k=b64url_encode(dek.key).decode(), kid=dek.kid)


def test_round_trip_and_header(dek: DataKey) -> None:
    """seal then open_sealed returns the plaintext; the header is exactly the documented one."""
    token = seal(PLAINTEXT, dek, EVENT_ID)
    header = orjson.loads(b64url_decode(token.split(".")[0]))
    expected = {"alg": "dir", "enc": "A256GCM", "kid": dek.kid, "kyc_event_id": EVENT_ID}
    assert expected == header
    assert "" == token.split(".")[1]
    assert dek.kid == sealed_kid(token)
    assert PLAINTEXT == open_sealed(token, {dek.kid: dek}.get, EVENT_ID)


def test_open_accepts_raw_key_bytes(dek: DataKey) -> None:
    """The lookup may answer with the 32 key bytes instead of a DataKey."""
    token = seal(PLAINTEXT, dek, EVENT_ID)
    assert PLAINTEXT == open_sealed(token, {dek.kid: dek.key}.get, EVENT_ID)


def test_every_seal_uses_a_fresh_iv(dek: DataKey) -> None:
    """Sealing the same plaintext twice gives two different tokens (random IV)."""
    assert seal(PLAINTEXT, dek, EVENT_ID) != seal(PLAINTEXT, dek, EVENT_ID)


def test_unknown_kid_is_key_unavailable(dek: DataKey) -> None:
    """A token whose DEK is unknown or erased raises KeyUnavailableError naming the kid."""
    token = seal(PLAINTEXT, dek, EVENT_ID)
    with pytest.raises(KeyUnavailableError) as info:
        open_sealed(token, lambda _kid: None, EVENT_ID)
    assert dek.kid == info.value.kid


def test_token_moved_to_another_record_is_refused(dek: DataKey) -> None:
    """A token opened for another event id raises EventMismatchError."""
    token = seal(PLAINTEXT, dek, EVENT_ID)
    with pytest.raises(EventMismatchError):
        open_sealed(token, {dek.kid: dek}.get, OTHER_EVENT_ID)


def test_rewriting_the_event_id_breaks_authentication(dek: DataKey) -> None:
    """Editing kyc_event_id in the header to match another record fails the GCM tag."""
    token = seal(PLAINTEXT, dek, EVENT_ID)
    header = {"alg": "dir", "enc": "A256GCM", "kid": dek.kid, "kyc_event_id": OTHER_EVENT_ID}
    forged = b64url_encode(orjson.dumps(header)).decode() + token[token.index(".") :]
    with pytest.raises(TamperedError):
        open_sealed(forged, {dek.kid: dek}.get, OTHER_EVENT_ID)


@pytest.mark.parametrize("segment", [2, 3, 4])
def test_flipped_bit_is_tampered(dek: DataKey, segment: int) -> None:
    """A changed IV, ciphertext or tag raises TamperedError, not garbage plaintext."""
    parts = seal(PLAINTEXT, dek, EVENT_ID).split(".")
    raw = bytearray(b64url_decode(parts[segment]))
    raw[0] ^= 1
    parts[segment] = b64url_encode(bytes(raw)).decode()
    with pytest.raises(TamperedError):
        open_sealed(".".join(parts), {dek.kid: dek}.get, EVENT_ID)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"alg": "A256KW", "enc": "A256GCM", "kid": "k"}, id="other-alg"),
        pytest.param({"alg": "dir", "enc": "A128GCM", "kid": "k"}, id="other-enc"),
        pytest.param({"alg": "dir", "enc": "A256GCM"}, id="no-kid"),
        pytest.param({"alg": "dir", "enc": "A256GCM", "kid": "k", "zip": "DEF"}, id="zip"),
    ],
)
def test_other_algorithms_are_refused(dek: DataKey, header: dict[str, str]) -> None:
    """Only alg dir / enc A256GCM with a kid and no zip is accepted."""
    token = seal(PLAINTEXT, dek, EVENT_ID)
    forged = b64url_encode(orjson.dumps(header)).decode() + token[token.index(".") :]
    with pytest.raises(TamperedError):
        sealed_kid(forged)


def test_joserfc_decrypts_what_seal_writes(dek: DataKey) -> None:
    """joserfc opens a sealed value with the DEK as a JWK and sees the event id header."""
    token = seal(PLAINTEXT, dek, EVENT_ID)
    key = OctKey.import_key({"kty": "oct", "k": b64url_encode(dek.key).decode()})
    opened = joserfc_jwe.decrypt_compact(token, key, registry=JOSERFC_REGISTRY)
    assert PLAINTEXT == opened.plaintext
    assert EVENT_ID == opened.protected["kyc_event_id"]


def test_jwcrypto_decrypts_what_seal_writes(dek: DataKey) -> None:
    """jwcrypto, the independent library, opens a sealed value with the DEK JWK."""
    token = jwcrypto_jwe.JWE()
    token.deserialize(seal(PLAINTEXT, dek, EVENT_ID), key=_jwcrypto_key(dek))
    assert PLAINTEXT == token.payload
    assert EVENT_ID == json.loads(token.objects["protected"])["kyc_event_id"]


def test_open_reads_what_jwcrypto_writes(dek: DataKey) -> None:
    """A token jwcrypto builds with the same header opens with open_sealed."""
    header = {"alg": "dir", "enc": "A256GCM", "kid": dek.kid, "kyc_event_id": EVENT_ID}
    token = jwcrypto_jwe.JWE(PLAINTEXT, protected=json.dumps(header))
    token.add_recipient(_jwcrypto_key(dek))
    assert PLAINTEXT == open_sealed(token.serialize(compact=True), {dek.kid: dek}.get, EVENT_ID)


def test_open_reads_what_joserfc_writes(dek: DataKey) -> None:
    """A token joserfc builds with the same header opens with open_sealed."""
    header = {"alg": "dir", "enc": "A256GCM", "kid": dek.kid, "kyc_event_id": EVENT_ID}
    key = OctKey.import_key({"kty": "oct", "k": b64url_encode(dek.key).decode()})
    token = joserfc_jwe.encrypt_compact(header, PLAINTEXT, key, registry=JOSERFC_REGISTRY)
    assert PLAINTEXT == open_sealed(token, {dek.kid: dek}.get, EVENT_ID)


@given(plaintext=st.binary(max_size=4096), event_id=st.text(min_size=1, max_size=40))
def test_round_trip_any_bytes(plaintext: bytes, event_id: str) -> None:
    """open_sealed(seal(x)) == x for any bytes and any event id."""
    dek = new_data_key("subject")
    assert plaintext == open_sealed(seal(plaintext, dek, event_id), {dek.kid: dek}.get, event_id)
