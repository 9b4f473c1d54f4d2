"""Intake: plain and encrypted bodies become a JSON object, or a precise error."""

from __future__ import annotations

import orjson
import pytest

from bridge import crypto
from bridge.decode import decode_webhook
from bridge.errors import (
    DecryptionError,
    InvalidPayloadError,
    NotJsonError,
    PlaintextRefusedError,
)

KEY = "project-api-key"
PAYLOAD = {"webhook_trigger": "approved", "submission_id": "sub_1"}
CIPHER = crypto.encrypt(orjson.dumps(PAYLOAD), KEY)
ARRAY_CIPHER = crypto.encrypt(b"[1]", KEY)  # decrypts fine, but not to a JSON object


@pytest.mark.parametrize(
    ("body", "media"),
    [
        pytest.param(orjson.dumps({"data": CIPHER}), "application/json", id="json-envelope"),
        pytest.param(orjson.dumps({"data": CIPHER}), "text/plain", id="text-envelope"),
        pytest.param(CIPHER.encode(), "text/plain", id="bare-base64"),
        pytest.param(
            orjson.dumps({"data": CIPHER.replace("+", "-").replace("/", "_").rstrip("=")}),
            "application/json",
            id="urlsafe-unpadded",
        ),
    ],
)
def test_encrypted_bodies_are_decrypted(body: bytes, media: str) -> None:
    """Every accepted encrypted form yields the payload, flagged as encrypted (labels aside)."""
    del media  # the label ARGOS may send with this form: never an input
    decoded = decode_webhook(body, api_keys=["old", KEY], allow_plaintext=False)
    assert (PAYLOAD, True) == (decoded.payload, decoded.encrypted)


def test_plain_body_is_accepted_when_allowed() -> None:
    """A plain JSON webhook passes through, flagged as not encrypted."""
    decoded = decode_webhook(orjson.dumps(PAYLOAD), api_keys=[], allow_plaintext=True)
    assert (PAYLOAD, False) == (decoded.payload, decoded.encrypted)


@pytest.mark.parametrize(
    ("body", "media", "keys", "plain", "error"),
    [
        (orjson.dumps(PAYLOAD), "application/json", [KEY], False, PlaintextRefusedError),
        (orjson.dumps({"data": CIPHER}), "application/json", ["wrong"], True, DecryptionError),
        (orjson.dumps({"data": CIPHER}), "application/json", [], True, DecryptionError),
        (orjson.dumps({"data": "!!!"}), "application/json", [KEY], True, DecryptionError),
        (b"{not json", "application/json", [KEY], True, NotJsonError),
        (b"[1, 2]", "application/json", [KEY], True, NotJsonError),
        (orjson.dumps({"data": ARRAY_CIPHER}), "text/plain", [KEY], True, DecryptionError),
    ],
)
def test_failures_have_stable_error_types(
    body: bytes, media: str, keys: list[str], plain: bool, error: type[Exception]
) -> None:
    """Each failure mode raises its own error class (and so its own stable code)."""
    del media
    with pytest.raises(error):
        decode_webhook(body, api_keys=keys, allow_plaintext=plain)


def test_invalid_payload_errors_are_dead_letter_material() -> None:
    """Decryption and JSON failures are InvalidPayloadError (dead-lettered), 400."""
    for cls in (DecryptionError, NotJsonError, PlaintextRefusedError):
        assert issubclass(cls, InvalidPayloadError)
        assert 400 == cls.status
