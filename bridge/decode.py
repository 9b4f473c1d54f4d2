"""
Decode webhook bodies: detect ARGOS encryption, decrypt with any of the
project's API keys, parse into a JSON object, and build its event. Pure:
bytes in, value out.

Nesting is checked here, once: a decoded payload is at most `MAX_JSON_DEPTH`
levels deep, so nothing downstream (orjson serializes about 255 levels, the
`json` fallback and recursive code hit Python's recursion limit) can fail on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson

from bridge import crypto
from bridge.config import ProjectSettings, Secret
from bridge.errors import (
    DecryptionError,
    NotJsonError,
    PayloadTooDeepError,
    PlaintextRefusedError,
)
from bridge.events import Draft, EventFactory
from bridge.types import JSONObject, JSONValue

__all__ = [
    "MAX_JSON_DEPTH",
    "Decoded",
    "decode_for",
    "decode_webhook",
    "draft_from_body",
    "is_ciphertext",
]

#: nesting levels of objects and arrays a payload may have (the top-level object is 1);
#: ARGOS payloads have about 4, and the envelope adds 2 to what gets serialized
MAX_JSON_DEPTH = 64

_BASE64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=\r\n")


@dataclass(frozen=True, slots=True)
class Decoded:
    """A webhook body as a JSON object, and how it arrived."""

    payload: JSONObject
    encrypted: bool
    #: the API key that decrypted the body (None for a plain body)
    key: Secret | None = None


def _too_deep(value: JSONObject, limit: int) -> bool:
    """Return whether `value` nests deeper than `limit` levels (iteratively: no recursion)."""
    stack: list[tuple[JSONObject | list[JSONValue], int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _parse_object(data: bytes) -> JSONObject | None:
    """
    Parse a JSON object; None if `data` is not one.

    Raises:
        PayloadTooDeepError: a JSON object nested deeper than `MAX_JSON_DEPTH`.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):  # orjson refuses more than 1024 levels outright
            raise PayloadTooDeepError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
        return None
    if not isinstance(value, dict):
        return None
    # Depth needs at least as many openers: a cheap count spares the walk for normal bodies.
    if data.count(b"{") + data.count(b"[") > MAX_JSON_DEPTH and _too_deep(value, MAX_JSON_DEPTH):
        raise PayloadTooDeepError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


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
    try:
        parsed = _parse_object(body)
    except PayloadTooDeepError:
        return False  # a deeply nested object is no `{"data": ...}` envelope
    return _ciphertext(body, parsed) is not None


def decode_webhook(body: bytes, *, api_keys: Sequence[str], allow_plaintext: bool) -> Decoded:
    """
    Decode one webhook body.

    Raises:
        NotJsonError: the body is not a JSON object and not ciphertext.
        DecryptionError: ciphertext that no key turns into a JSON object.
        PlaintextRefusedError: a plain body on a project that requires encryption.
        PayloadTooDeepError: the (decrypted) JSON object nests deeper than `MAX_JSON_DEPTH`.
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
            return Decoded(payload, encrypted=True, key=Secret(key))
    raise DecryptionError("no configured API key decrypts the body to a JSON object")


def decode_for(project: ProjectSettings, body: bytes) -> Decoded:
    """
    Decode one body with the project's keys and policy.

    Raises:
        InvalidPayloadError: any subclass; the body cannot become a payload.
    """
    return decode_webhook(
        body,
        api_keys=[k.value for k in project.api_keys],
        allow_plaintext=project.allow_plaintext,
    )


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
    decoded = decode_for(project, body)
    draft = factory.draft(
        decoded.payload, project=project.name, received_at=received_at, encrypted=decoded.encrypted
    )
    return draft, decoded.encrypted
