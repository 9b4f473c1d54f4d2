"""Intake: plain and encrypted bodies become a JSON object, or a precise error."""

from __future__ import annotations

import orjson
import pytest

from bridge import crypto
from bridge.decode import MAX_JSON_DEPTH, decode_webhook
from bridge.errors import (
    DecryptionError,
    InvalidPayloadError,
    NotJsonError,
    PayloadTooDeepError,
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
    """A plain JSON webhook passes through, flagged as not encrypted, with no key."""
    decoded = decode_webhook(orjson.dumps(PAYLOAD), api_keys=[], allow_plaintext=True)
    assert (PAYLOAD, False, None) == (decoded.payload, decoded.encrypted, decoded.key)


@pytest.mark.parametrize(("keys", "opener"), [([KEY], KEY), (["old", KEY], KEY), ([KEY, "x"], KEY)])
def test_decoded_reports_the_key_that_decrypted_the_body(keys: list[str], opener: str) -> None:
    """The decoder says which API key opened the body (for the encrypted answer), masked."""
    decoded = decode_webhook(orjson.dumps({"data": CIPHER}), api_keys=keys, allow_plaintext=False)
    assert decoded.key is not None
    assert opener == decoded.key.value
    assert opener not in repr(decoded)


def _nested(depth: int, *, array: bool = False) -> bytes:
    """A JSON object whose deepest container is `depth` levels down (the top object is 1)."""
    opener, closer = (b"[", b"]") if array else (b'{"a":', b"}")
    inner = opener * (depth - 1) + b"1" + closer * (depth - 1)
    return b'{"webhook_trigger":"approved","deep":' + inner + b"}" if depth > 1 else b"{}"


@pytest.mark.parametrize("array", [False, True], ids=["objects", "arrays"])
def test_nesting_up_to_the_limit_is_accepted(array: bool) -> None:
    """A payload exactly MAX_JSON_DEPTH levels deep decodes."""
    body = _nested(MAX_JSON_DEPTH, array=array)
    decoded = decode_webhook(body, api_keys=[], allow_plaintext=True)
    assert "approved" == decoded.payload["webhook_trigger"]


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 256, 1000, 1025, 5000])
@pytest.mark.parametrize("array", [False, True], ids=["objects", "arrays"])
def test_deeper_nesting_is_payload_too_deep(depth: int, array: bool) -> None:
    """Deeper payloads (also past orjson's own 1024-level parse limit) get their own error."""
    with pytest.raises(PayloadTooDeepError):
        decode_webhook(_nested(depth, array=array), api_keys=[], allow_plaintext=True)


def test_deep_nesting_inside_an_encrypted_body_is_payload_too_deep() -> None:
    """The depth check applies to the decrypted payload as well."""
    body = orjson.dumps({"data": crypto.encrypt(_nested(1000), KEY)})
    with pytest.raises(PayloadTooDeepError):
        decode_webhook(body, api_keys=[KEY], allow_plaintext=False)


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
    for cls in (DecryptionError, NotJsonError, PlaintextRefusedError, PayloadTooDeepError):
        assert issubclass(cls, InvalidPayloadError)
        assert 400 == cls.status
