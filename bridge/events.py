"""
The published event: envelope, deterministic id, CloudEvents headers, Kafka record.

    EventFactory(registry).build(payload, project=..., received_at=..., encrypted=...)
        -> Event(event_id, event_type, ..., record=Record(key, value=<envelope>, headers=<ce_*>))

Pure: no I/O, no clock (the caller passes `received_at`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from bridge.normalize import format_utc, normalize
from bridge.publish import Record
from bridge.schemas import SchemaRegistry, schema_uri
from bridge.types import JSONObject, JSONValue

__all__ = [
    "CONTENT_TYPE",
    "PROVIDER",
    "SCHEMA_VERSION",
    "SOURCE_PREFIX",
    "Event",
    "EventFactory",
    "canonical_json",
    "cloudevents_headers",
    "derive_event_id",
    "dumps",
    "format_received_at",
    "uuid_from_digest",
]

PROVIDER: JSONObject = {"provider": "argos", "product": "idcheck"}
SOURCE_PREFIX = "argos://idcheck"
SCHEMA_VERSION = 1
CONTENT_TYPE = b"application/json"

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Event:
    """A published event: what it is, and the one Kafka record that carries it."""

    event_id: str  # deterministic, see derive_event_id
    event_type: str  # e.g. "kyc.approved"
    schema_version: int  # major version of the event's schema
    subject: str | None  # submission_id, if any
    record: Record  # key (never empty), value (the JSON envelope), CloudEvents headers
    warnings: tuple[str, ...] = ()  # "code:path" of values kept as given

    @property
    def key(self) -> str:
        """The record key as text."""
        return self.record.key.decode("utf-8")


def dumps(value: JSONValue) -> bytes:
    """Serialize compact JSON; what orjson refuses (huge ints, lone surrogates) uses json."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


def canonical_json(payload: JSONObject) -> bytes:
    """Return the canonical bytes of a payload: compact UTF-8 JSON, keys sorted."""
    try:
        return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def uuid_from_digest(digest: bytes) -> str:
    """Return the first 16 bytes of `digest` as an RFC 9562 version 8 UUID string."""
    raw = bytearray(digest[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8: custom
    raw[8] = (raw[8] & 0x3F) | 0x80  # variant: RFC 9562
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def derive_event_id(project: str, payload: JSONObject) -> str:
    """
    Return the event id of a decrypted payload received for `project`.

    `uuid8(sha256(project + "\\n" + canonical_json(payload)))`: every delivery of
    the same webhook to the same project gets the same id.
    """
    digest = hashlib.sha256(project.encode() + b"\n" + canonical_json(payload)).digest()
    return uuid_from_digest(digest)


def format_received_at(moment: datetime) -> str:
    """Format a receive time as RFC 3339 UTC with millisecond precision."""
    if moment.tzinfo is UTC:  # datetime.now(UTC): nothing to convert
        return moment.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"
    return format_utc(moment.replace(microsecond=moment.microsecond // 1000 * 1000))


def cloudevents_headers(
    *,
    event_id: str,
    source: str,
    event_type: str,
    time: str,
    schema: str,
    subject: str | None = None,
    extra: Headers = (),
) -> Headers:
    """Return CloudEvents 1.0 Kafka binary-mode headers (UTF-8 values)."""
    headers: list[tuple[str, bytes]] = [
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", event_type.encode()),
        ("ce_time", time.encode()),
    ]
    if subject is not None:
        headers.append(("ce_subject", subject.encode()))
    headers += [
        ("ce_dataschema", schema_uri(schema).encode()),
        ("content-type", CONTENT_TYPE),
        ("kyc_schema", schema.encode()),
        *extra,
    ]
    return tuple(headers)


class EventFactory:
    """Turn decrypted ARGOS payloads into validated, serialized events."""

    def __init__(self, registry: SchemaRegistry, *, source_prefix: str = SOURCE_PREFIX) -> None:
        self._registry = registry
        self._source_prefix = source_prefix

    def build(
        self, payload: JSONObject, *, project: str, received_at: datetime, encrypted: bool
    ) -> Event:
        """
        Normalize, wrap in the envelope, validate against the schema, serialize.

        Raises:
            SchemaValidationError: the envelope does not match its schema (a bug).
        """
        normalized = normalize(payload)
        event_id = derive_event_id(project, payload)
        schema = f"{normalized.event_type}.v{SCHEMA_VERSION}"
        received = format_received_at(received_at)
        envelope: JSONObject = {
            "event_id": event_id,
            "event_type": normalized.event_type,
            "schema_version": SCHEMA_VERSION,
            "schema": schema,
        }
        if normalized.subject is not None:
            envelope["subject"] = normalized.subject
        if normalized.occurred_at is not None:
            envelope["occurred_at"] = normalized.occurred_at
        envelope["received_at"] = received
        envelope["source"] = {**PROVIDER, "project": project}
        envelope["encrypted"] = encrypted
        if normalized.trigger is not None:
            envelope["trigger"] = normalized.trigger
        envelope["data"] = normalized.data
        if normalized.warnings:
            envelope["warnings"] = [w.as_json() for w in normalized.warnings]
        envelope["raw"] = payload
        self._registry.validate(schema, envelope)

        key = normalized.key_hint or f"event:{event_id}"
        headers = cloudevents_headers(
            event_id=event_id,
            source=f"{self._source_prefix}/{project}",
            event_type=normalized.event_type,
            time=normalized.occurred_at or received,
            schema=schema,
            subject=normalized.subject,
        )
        return Event(
            event_id=event_id,
            event_type=normalized.event_type,
            schema_version=SCHEMA_VERSION,
            subject=normalized.subject,
            record=Record(key.encode("utf-8"), dumps(envelope), headers),
            warnings=tuple(map(str, normalized.warnings)),
        )
