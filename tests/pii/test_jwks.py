"""JwksFileKek: loading the JWK Set file, and the A256KW wrapped key read by jwcrypto."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from jwcrypto import jwe as jwcrypto_jwe
from jwcrypto import jwk as jwcrypto_jwk

from bridge.pii.errors import KekConfigError
from bridge.pii.jwks import JwksFileKek
from bridge.pii.keys import dek_to_jwk, new_data_key
from tests.pii.conftest import jwk, write_jwks

SECRET_K = jwk("kek-a", 0x5A)["k"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(b"{not json", "not JSON", id="not-json"),
        pytest.param(b"[]", "no 'keys' array", id="not-an-object"),
        pytest.param(b'{"keys": []}', "no 'keys' array", id="no-keys"),
        pytest.param(
            orjson.dumps({"keys": [{"kty": "RSA", "kid": "x", "k": SECRET_K}]}),
            "keys[0] is not a JWK with kty 'oct'",
            id="not-oct",
        ),
        pytest.param(
            orjson.dumps({"keys": [{"kty": "oct", "k": SECRET_K}]}),
            "keys[0] has no kid",
            id="no-kid",
        ),
        pytest.param(
            orjson.dumps({"keys": [{"kty": "oct", "kid": "a", "k": SECRET_K[:22]}]}),
            "k is not 256 bits",
            id="128-bit",
        ),
        pytest.param(
            orjson.dumps({"keys": [{"kty": "oct", "kid": "a", "k": SECRET_K + "=="}]}),
            "k is not 256 bits",
            id="padded-k",
        ),
        pytest.param(
            orjson.dumps({"keys": [jwk("a", 1), {"kty": "oct", "kid": "a", "k": SECRET_K}]}),
            "kid 'a' appears twice",
            id="duplicate-kid",
        ),
    ],
)
def test_bad_files_name_the_problem_not_the_key(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    """Each file problem is a KekConfigError naming file and problem, never key material."""
    path = tmp_path / "kek.jwks"
    path.write_bytes(content)
    with pytest.raises(KekConfigError) as info:
        JwksFileKek.from_file(path)
    assert reason in info.value.message
    assert str(path) in info.value.message
    assert SECRET_K[:16] not in info.value.message


def test_missing_file(tmp_path: Path) -> None:
    """An unreadable file is a KekConfigError naming the path."""
    path = tmp_path / "absent.jwks"
    with pytest.raises(KekConfigError) as info:
        JwksFileKek.from_file(path)
    assert f"KEK file {path}: cannot read" in info.value.message


def test_first_key_wraps_and_repr_shows_kids_only(tmp_path: Path) -> None:
    """kid is the first key's; repr lists kids and no key material."""
    kek = JwksFileKek.from_file(write_jwks(tmp_path / "k.jwks", jwk("new", 1), jwk("old", 0x5A)))
    assert "new" == kek.kid
    assert ("new", "old") == kek.kids
    assert "JwksFileKek(kids=['new', 'old'])" == repr(kek)
    assert SECRET_K not in repr(kek)


async def test_jwcrypto_unwraps_with_only_the_jwks_file(tmp_path: Path) -> None:
    """The independent library opens the A256KW wrapped key with the JWK Set file alone."""
    path = write_jwks(tmp_path / "k.jwks", jwk("new", 1), jwk("old", 2))
    dek = new_data_key("subject")
    wrapped = await JwksFileKek.from_file(path).wrap(dek)
    keys = jwcrypto_jwk.JWKSet.from_json(path.read_text())
    token = jwcrypto_jwe.JWE()
    token.deserialize(wrapped, key=keys)
    assert json.loads(dek_to_jwk(dek)) == json.loads(token.payload)
