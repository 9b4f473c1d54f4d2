"""JWE compact serialization on AES-GCM: the RFC 7520 known answer and strict parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.pii.compact import b64url_decode, b64url_encode, encrypt_compact, parse_compact
from bridge.pii.errors import TamperedError

# RFC 7520 (JOSE Cookbook) section 5.6, "Direct Encryption Using AES-GCM".
RFC7520_KEY = "XctOhJAkA-pD9Lh7ZgW_2A"
RFC7520_IV = "refa467QzzKx6QAB"
RFC7520_PLAINTEXT = (
    "You can trust us to stick with you through thick and thin\u2013to the bitter end. "
    "And you can trust us to keep any secret of yours\u2013closer than you keep it yourself. "
    "But you cannot trust us to let you face trouble alone, and go off without a word. "
    "We are your friends, Frodo."
).encode()
RFC7520_COMPACT = (
    "eyJhbGciOiJkaXIiLCJraWQiOiI3N2M3ZTJiOC02ZTEzLTQ1Y2YtODY3Mi02MTdiNWI0NTI0M2EiLCJlbmMiOiJBMT"
    "I4R0NNIn0..refa467QzzKx6QAB.JW_i_f52hww_ELQPGaYyeAB6HYGcR559l9TYnSovc23XJoBcW29rHP8yZOZG7YhLp"
    "T1bjFuvZPjQS-m0IFtVcXkZXdH_lr_FrdYt9HRUYkshtrMmIUAyGmUnd9zMDB2n0cRDIHAzFVeJUDxkUwVAE7_YGRPdcq"
    "MyiBoCO-FBdE-Nceb4h3-FtBP-c_BIwCPTjb9o0SbdcdREEMJMyZBH8ySWMVi1gPD9yxi-aQpGbSv_F9N4IZAxscj5g-N"
    "JsUPbjk29-s7LJAGb15wEBtXphVCgyy53CoIKLHHeJHXex45Uz9aKZSRSInZI-wjsY0yu3cT4_aQ3i1o-tiE-F8Ios61E"
    "KgyIQ4CWao8PFMj8TTnp.vbb32Xvllea2OtmHAdccRQ"
)
RFC7520_HEADER = {"alg": "dir", "kid": "77c7e2b8-6e13-45cf-8672-617b5b45243a", "enc": "A128GCM"}


def test_encrypt_reproduces_rfc7520_vector() -> None:
    """With the cookbook's key, IV and header, the compact form is the RFC's byte for byte."""
    actual = encrypt_compact(
        dict(RFC7520_HEADER),
        RFC7520_PLAINTEXT,
        b64url_decode(RFC7520_KEY),
        iv=b64url_decode(RFC7520_IV),
    )
    assert RFC7520_COMPACT == actual


def test_parse_and_decrypt_rfc7520_vector() -> None:
    """The cookbook's compact JWE parses to its header and decrypts to its plaintext."""
    jwe = parse_compact(RFC7520_COMPACT)
    assert RFC7520_HEADER == jwe.header
    assert b"" == jwe.encrypted_key
    assert RFC7520_PLAINTEXT == jwe.decrypt(b64url_decode(RFC7520_KEY))


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param("a.b.c.d", "segments", id="four-segments"),
        pytest.param(RFC7520_COMPACT + ".x", "segments", id="six-segments"),
        pytest.param("e30..AAAA.AAAA.AAAA", "size", id="short-iv-and-tag"),
        pytest.param(
            "bm90IGpzb24.." + RFC7520_COMPACT.split("..")[1], "not JSON", id="header-not-json"
        ),
        pytest.param(
            "W10.." + RFC7520_COMPACT.split("..")[1], "not a JSON object", id="header-array"
        ),
        pytest.param(RFC7520_COMPACT.replace(".refa", ".re!a"), "base64url", id="bad-alphabet"),
        pytest.param(RFC7520_COMPACT.replace("QAB.", "QAB=."), "padded", id="padded-segment"),
    ],
)
def test_parse_rejects_malformed_tokens(token: str, reason: str) -> None:
    """Every malformed token is a TamperedError whose message says what is wrong."""
    with pytest.raises(TamperedError) as info:
        parse_compact(token)
    assert reason in info.value.message


def test_decrypt_with_modified_header_fails() -> None:
    """The header is the additional authenticated data: changing one member breaks the tag."""
    header_b64 = b64url_encode(b'{"alg":"dir","kid":"other","enc":"A128GCM"}').decode()
    forged = header_b64 + RFC7520_COMPACT[RFC7520_COMPACT.index(".") :]
    with pytest.raises(TamperedError):
        parse_compact(forged).decrypt(b64url_decode(RFC7520_KEY))


@given(data=st.binary(max_size=300))
def test_b64url_round_trip(data: bytes) -> None:
    """Unpadded base64url decodes back to the same bytes, and never contains + / or =."""
    encoded = b64url_encode(data)
    assert data == b64url_decode(encoded)
    assert not set(encoded.decode()) & set("+/=")
