"""Dead-letter records: the body byte for byte, safe metadata only, a stable id."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

import orjson
import pytest

from bridge.deadletter import build_dead_letter, safe_path
from bridge.events import Event
from bridge.schemas import load_registry
from bridge.types import JSONObject

REGISTRY = load_registry()
RECEIVED = datetime(2025, 6, 30, 12, 0, 0, 250_000, tzinfo=UTC)
BODY = b'{"data":"not really ciphertext \xff\x00"}'
TOKEN = "s3cr3t-webhook-token-0123456789"
REQUEST = {
    "method": "POST",
    "path": f"/webhooks/argos/{TOKEN}?token={TOKEN}",
    "Content-Type": "application/json",
    "User-Agent": "ARGOS-Webhook/1.0",
    "remote_addr": "203.0.113.10",
    "Authorization": f"Bearer {TOKEN}",
    "X-Api-Key": "argos-api-key",
}


def _dead(
    body: bytes = BODY,
    reason: str = "decryption_failed",
    *,
    project: str | None = "acme",
    received_at: datetime = RECEIVED,
    request: Mapping[str, str] = REQUEST,
) -> Event:
    return build_dead_letter(
        body,
        reason=reason,
        detail="no configured API key decrypts the body",
        project=project,
        received_at=received_at,
        request=request,
        registry=REGISTRY,
    )


def _data(event: Event) -> JSONObject:
    data = orjson.loads(event.record.value or b"")["data"]
    assert isinstance(data, dict)
    return data


def test_body_is_kept_byte_for_byte() -> None:
    """body_b64 decodes to the exact body; sha256 and size describe it."""
    data = _data(_dead())
    assert base64.b64decode(str(data["body_b64"])) == BODY
    assert hashlib.sha256(BODY).hexdigest() == data["body_sha256"]
    assert len(BODY) == data["size"]


def test_request_metadata_is_allowlisted_and_token_free() -> None:
    """Only method, path (no query, no token), content type, user agent, remote address."""
    event = _dead()
    assert _data(event)["request"] == {
        "method": "POST",
        "path": "/webhooks/argos/{redacted}",
        "content_type": "application/json",
        "user_agent": "ARGOS-Webhook/1.0",
        "remote_addr": "203.0.113.10",
    }
    assert TOKEN.encode() not in (event.record.value or b"")
    assert b"argos-api-key" not in (event.record.value or b"")


def test_lead_request_shape_is_understood() -> None:
    """The ingress passes `route` and `remote`; empty values are left out."""
    request = {
        "method": "POST",
        "route": "/webhooks/argos/{token}",
        "content_type": "",
        "remote": "::1",
    }
    data = _data(_dead(request=request))
    assert data["request"] == {
        "method": "POST",
        "path": "/webhooks/argos/{token}",
        "remote_addr": "::1",
    }
    assert "content_type" not in data


def test_envelope_key_headers_and_reason() -> None:
    """Type kyc.dead_letter, key dlq:<project>, CloudEvents headers plus the reason header."""
    event = _dead()
    value = orjson.loads(event.record.value or b"")
    assert (event.event_type, event.key, event.subject) == ("kyc.dead_letter", "dlq:acme", None)
    assert value["source"] == {
        "provider": "argos",
        "product": "idcheck",
        "project": "acme",
        "channel": "webhook",
    }
    assert value["data"]["reason"] == "decryption_failed"
    headers = dict(event.record.headers)
    assert headers["ce_type"] == b"kyc.dead_letter"
    assert headers["ce_dataschema"] == b"urn:kyc-bridge:schema:kyc.dead_letter.v2"
    assert headers["ce_time"] == b"2025-06-30T12:00:00.250Z"
    assert headers["kyc_dlq_reason"] == b"decryption_failed"
    assert event.event_id.encode() == headers["ce_id"]


def test_unknown_project() -> None:
    """Without a project the key is dlq:unknown and source.project is null."""
    event = _dead(project=None)
    assert event.key == "dlq:unknown"
    assert None is orjson.loads(event.record.value or b"")["source"]["project"]


def test_event_id_depends_on_body_and_reason_only() -> None:
    """Same body and reason: same v8 id (whatever the time); another reason: another id."""
    first = _dead()
    assert first.event_id == _dead(received_at=datetime(2030, 1, 1, tzinfo=UTC)).event_id
    assert first.event_id != _dead(reason="invalid_json").event_id
    assert first.event_id != _dead(body=BODY + b" ").event_id
    assert uuid.UUID(first.event_id).version == 8


@pytest.mark.parametrize(
    ("reason", "body"),
    [
        ("decryption_failed", b'{"data":"AAAA"}'),
        ("invalid_json", b"\x00\x01 not json"),
        ("plaintext_not_allowed", b'{"webhook_trigger":"approved"}'),
        ("schema_validation_failed", b'{"webhook_trigger":"approved"}'),
        ("event_too_large", b"x" * 10_000),
        ("invalid_json", b""),
    ],
)
def test_every_reason_validates(reason: str, body: bytes) -> None:
    """Every documented reason (and an empty body) gives a valid kyc.dead_letter.v2 record."""
    event = _dead(body=body, reason=reason)
    REGISTRY.validate("kyc.dead_letter.v2", orjson.loads(event.record.value or b""))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/webhooks/argos", "/webhooks/argos"),
        ("/webhooks/argos?token=abc", "/webhooks/argos"),
        ("/webhooks/argos/0123456789abcdef", "/webhooks/argos/{redacted}"),
        ("/webhooks/argos/{token}", "/webhooks/argos/{token}"),
        ("/a#frag", "/a"),
    ],
)
def test_safe_path(path: str, expected: str) -> None:
    """Query strings, fragments and token-sized segments never reach a dead letter."""
    assert expected == safe_path(path)
