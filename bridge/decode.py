"""
Decode webhook bodies: detect ARGOS encryption, decrypt with any of the
project's API keys, parse into a JSON object, and build its event. Pure:
bytes in, value out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson

from bridge import crypto
from bridge.config import ProjectSettings
from bridge.errors import (
    DecryptionError,
    NotJsonError,
    PlaintextRefusedError,
)
from bridge.events import Draft, EventFactory
from bridge.types import JSONObject

__all__ = ["Decoded", "decode_webhook", "draft_from_body", "is_ciphertext"]

_BASE64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=\r\n")


@dataclass(frozen=True, slots=True)
class Decoded:
    """A webhook body as a JSON object, and whether it arrived encrypted."""

    payload: JSONObject
    encrypted: bool


def _parse_object(data: bytes) -> JSONObject | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _ciphertext(body: bytes, parsed: JSONObject | None) -> str | None:
    """Return the ciphertext if the body is an ARGOS encrypted envelope."""
    if parsed is not None:
        data = parsed.get("data")
        if "webhook_trigger" not in parsed and isinstance(data, str) and len(parsed) == 1:
            return data
        return None
    text = body.strip()
    # text/plain bodies may carry the bare base64 ciphertext.
    if text and _BASE64.issuperset(text):
        return text.decode("ascii")
    return None


def is_ciphertext(body: bytes) -> bool:
    """Whether `body` is an ARGOS encrypted body (kept as received even when protected)."""
    return _ciphertext(body, _parse_object(body)) is not None


def decode_webhook(body: bytes, *, api_keys: Sequence[str], allow_plaintext: bool) -> Decoded:
    """
    Decode one webhook body.

    Raises:
        NotJsonError: the body is not a JSON object and not ciphertext.
        DecryptionError: ciphertext that no key turns into a JSON object.
        PlaintextRefusedError: a plain body on a project that requires encryption.
    """
    # The content type is not an input: refusing a body for its label could lose a KYC
    # result (ARGOS's encrypted mode has used text/plain); a body that is not JSON is
    # dead-lettered instead, with the type recorded in its request metadata.
    parsed = _parse_object(body)
    ciphertext = _ciphertext(body, parsed)
    if ciphertext is None:
        if parsed is None:
            raise NotJsonError("body is not a JSON object")
        if not allow_plaintext:
            raise PlaintextRefusedError("this project accepts encrypted webhooks only")
        return Decoded(parsed, encrypted=False)
    if not api_keys:
        raise DecryptionError("encrypted body, but no ARGOS API key is configured")
    for key in api_keys:
        try:
            plaintext = crypto.decrypt(ciphertext, (key,))
        except DecryptionError:
            continue
        payload = _parse_object(plaintext)
        if payload is not None:
            return Decoded(payload, encrypted=True)
    raise DecryptionError("no configured API key decrypts the body to a JSON object")


def draft_from_body(
    body: bytes,
    *,
    project: ProjectSettings,
    factory: EventFactory,
    received_at: datetime,
) -> tuple[Draft, bool]:
    """
    Decode one body with the project's keys and policy, and draft its event.

    Returns the draft and whether the body arrived encrypted.

    Raises:
        InvalidPayloadError: any subclass; the body cannot become an event.
    """
    decoded = decode_webhook(
        body,
        api_keys=[k.value for k in project.api_keys],
        allow_plaintext=project.allow_plaintext,
    )
    draft = factory.draft(
        decoded.payload, project=project.name, received_at=received_at, encrypted=decoded.encrypted
    )
    return draft, decoded.encrypted
