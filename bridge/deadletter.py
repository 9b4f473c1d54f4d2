"""
Dead-letter records: a body we could not turn into an event, kept byte for byte.

The value is a `kyc.dead_letter.v1` envelope whose `data` holds the body as
received (base64), its SHA-256 and size, the stable error code and a safe
detail, and an allowlist of request metadata (never headers with secrets,
never the query string, never a path segment that may be a token). Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from bridge.events import (
    PROVIDER,
    SCHEMA_VERSION,
    SOURCE_PREFIX,
    Event,
    cloudevents_headers,
    dumps,
    format_received_at,
    uuid_from_digest,
)
from bridge.publish import Record
from bridge.schemas import SchemaRegistry
from bridge.types import JSONObject

__all__ = [
    "DEAD_LETTER_TYPE",
    "UNWRITABLE",
    "Origin",
    "build_dead_letter",
    "dead_letter_id",
    "safe_path",
]

DEAD_LETTER_TYPE = "kyc.dead_letter"
#: reason of the body-less dead letter that replaces one Kafka refused as well
UNWRITABLE = "dead_letter_too_large"
_SCHEMA = f"{DEAD_LETTER_TYPE}.v{SCHEMA_VERSION}"
_MAX_TEXT = 512
_MIN_SECRET_SEGMENT = 16  # webhook tokens are at least 16 characters (bridge.config)

_REQUEST_FIELDS = {
    "method": "method",
    "path": "path",
    "route": "path",
    "content-type": "content_type",
    "content_type": "content_type",
    "user-agent": "user_agent",
    "user_agent": "user_agent",
    "remote": "remote_addr",
    "remote_addr": "remote_addr",
    "remote-addr": "remote_addr",
}
"""Request metadata a dead letter may carry (keys are matched case-insensitively)."""


def safe_path(path: str) -> str:
    """
    Return `path` without query string or fragment, and with every segment of 16
    or more characters (a possible webhook token) replaced by `{redacted}`.
    """
    bare = path.split("?", 1)[0].split("#", 1)[0]
    return "/".join(
        "{redacted}" if len(segment) >= _MIN_SECRET_SEGMENT else segment
        for segment in bare.split("/")
    )


def _request_metadata(request: Mapping[str, str]) -> JSONObject:
    metadata: JSONObject = {}
    for name, value in request.items():
        field = _REQUEST_FIELDS.get(name.lower())
        if field is None or not isinstance(value, str) or not value or field in metadata:
            continue
        text = safe_path(value) if field == "path" else value
        metadata[field] = text[:_MAX_TEXT]
    return metadata


@dataclass(frozen=True, slots=True)
class Origin:
    """What a dead letter keeps of a request: the body exactly as received, safe metadata."""

    body: bytes = field(repr=False)
    project: str | None
    received_at: datetime
    request: Mapping[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        """Serialize for the spool: a JSON line of metadata, then the body's bytes."""
        head = {
            "project": self.project,
            "received_at": self.received_at.isoformat(),
            "request": dict(self.request),
        }
        return orjson.dumps(head) + b"\n" + self.body

    @classmethod
    def decode(cls, blob: bytes) -> Origin:
        """
        Read what `encode` wrote.

        Raises:
            ValueError: the blob is not an encoded origin.
        """
        head, _, body = blob.partition(b"\n")
        meta = orjson.loads(head)
        if not isinstance(meta, dict):
            raise ValueError("not an encoded origin")
        request = meta.get("request") or {}
        return cls(
            body=body,
            project=meta.get("project"),
            received_at=datetime.fromisoformat(str(meta["received_at"])),
            request={str(k): str(v) for k, v in request.items()},
        )

    def dead_letter(
        self,
        *,
        reason: str,
        detail: str,
        sealed: Mapping[str, str] | None = None,
        keep_body: bool = True,
        redacted: bool = False,
        registry: SchemaRegistry | None = None,
    ) -> Event:
        """Build this request's dead letter (see `build_dead_letter`)."""
        return build_dead_letter(
            self.body,
            reason=reason,
            detail=detail,
            project=self.project,
            received_at=self.received_at,
            request=self.request,
            sealed=sealed,
            keep_body=keep_body,
            redacted=redacted,
            registry=registry,
        )


def dead_letter_id(body: bytes, reason: str) -> str:
    """The dead letter's event id: from SHA-256(body) and the reason (repeats share it)."""
    body_sha256 = hashlib.sha256(body).hexdigest()
    return uuid_from_digest(hashlib.sha256(f"{body_sha256}\n{reason}".encode()).digest())


def build_dead_letter(
    body: bytes,
    *,
    reason: str,
    detail: str,
    project: str | None,
    received_at: datetime,
    request: Mapping[str, str],
    sealed: Mapping[str, str] | None = None,
    keep_body: bool = True,
    redacted: bool = False,
    registry: SchemaRegistry | None = None,
) -> Event:
    """
    Build the dead-letter record for a body that could not become an event
    (`redacted`: the body was left out because it holds personal data; `pii` says so).

    `reason` is the stable error code (`decryption_failed`, `invalid_json`, ...),
    `detail` a safe message without payload data. The event id is derived from
    SHA-256(body) and the reason, so redeliveries of one bad body share it. The
    body is kept as received (`body_b64`), or `sealed` (personal-data protection:
    `body_sealed`, see `bridge.pii.inline`), or not at all (`keep_body=False`).

    Raises:
        SchemaValidationError: only when `registry` is given and the record does
            not match `kyc.dead_letter.v2` (a bug).
    """
    body_sha256 = hashlib.sha256(body).hexdigest()
    event_id = dead_letter_id(body, reason)
    received = format_received_at(received_at)
    metadata = _request_metadata(request)
    data: JSONObject = {"reason": reason, "detail": detail[:_MAX_TEXT]}
    if "content_type" in metadata:
        data["content_type"] = metadata["content_type"]
    data |= {"size": len(body), "body_sha256": body_sha256, "request": metadata}
    if sealed is not None:
        data["body_sealed"] = dict(sealed)
    elif keep_body:
        data["body_b64"] = base64.b64encode(body).decode("ascii")
    envelope: JSONObject = {
        "event_id": event_id,
        "event_type": DEAD_LETTER_TYPE,
        "schema_version": SCHEMA_VERSION,
        "schema": _SCHEMA,
        "received_at": received,
        "source": {**PROVIDER, "project": project, "channel": "webhook"},
        "pii": "encrypted" if sealed is not None else "redacted" if redacted else "clear",
        "stale": False,
        "data": data,
    }
    if registry is not None:
        registry.validate(_SCHEMA, envelope)
    headers = cloudevents_headers(
        event_id=event_id,
        source=f"{SOURCE_PREFIX}/{project or 'unknown'}",
        event_type=DEAD_LETTER_TYPE,
        time=received,
        schema=_SCHEMA,
        extra=(("kyc_dlq_reason", reason.encode()),),
    )
    return Event(
        event_id=event_id,
        event_type=DEAD_LETTER_TYPE,
        schema_version=SCHEMA_VERSION,
        subject=None,
        record=Record(f"dlq:{project or 'unknown'}".encode(), dumps(envelope), headers),
    )
