"""The fixture corpus itself: well-formed, realistic, and its encrypted twins are current."""

from __future__ import annotations

import re

import orjson
import pytest

from bridge.crypto import decrypt
from bridge.events import canonical_json
from tests.fixtures import make_encrypted
from tests.normalize.corpus import FIXTURES, fixture_names, load_fixture

NAMES = fixture_names()


@pytest.mark.parametrize("name", NAMES)
def test_fixture_file_is_well_formed(name: str) -> None:
    """Each fixture has a description, an object payload and at least event_type and key."""
    fixture = load_fixture(name)
    assert {"description", "payload", "expect"} == set(fixture)
    assert fixture["description"].strip()
    assert isinstance(fixture["payload"], dict)
    assert {"event_type", "key"} <= set(fixture["expect"])


@pytest.mark.parametrize("name", NAMES)
def test_fixture_has_no_placeholder_values(name: str) -> None:
    """Payloads look real: no ARGOS sample placeholders such as "string" or "{submission_id}"."""
    text = orjson.dumps(load_fixture(name)["payload"]).decode()
    assert not re.search(r'"(string|String|test)"|"\{[a-z_]+\}"', text)


@pytest.mark.parametrize("name", NAMES)
def test_encrypted_twin_decrypts_to_the_canonical_payload(name: str) -> None:
    """decrypt(encrypted body) with the fixture API key gives the payload's canonical bytes."""
    twin = orjson.loads((make_encrypted.ENCRYPTED / f"{name}.json").read_bytes())
    body = orjson.loads(twin["body"])
    assert list(body) == ["data"]
    plaintext = decrypt(body["data"], [twin["api_key"]])
    assert canonical_json(load_fixture(name)["payload"]) == plaintext


def test_encrypted_twins_are_current_and_deterministic() -> None:
    """Regenerating the encrypted fixtures reproduces the committed files byte for byte."""
    first, second = make_encrypted.expected_files(), make_encrypted.expected_files()
    assert first == second
    committed = {p: p.read_bytes() for p in make_encrypted.ENCRYPTED.glob("*.json")}
    assert first == committed
    assert make_encrypted.main(["--check"]) == 0


def test_every_fixture_has_an_encrypted_twin() -> None:
    """Plain and encrypted fixture names match one to one."""
    assert sorted(p.stem for p in (FIXTURES / "encrypted").glob("*.json")) == NAMES
