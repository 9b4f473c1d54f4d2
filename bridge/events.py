"""
The published event: envelope, deterministic id, CloudEvents headers, Kafka record.

    factory = EventFactory(registry)
    draft = factory.draft(payload, project=..., received_at=..., encrypted=...)
    event = factory.finish(draft, stale=..., pii="clear" | "encrypt" | "redact", dek=...)
        -> Event(event_id, event_type, ..., record=Record(key, value=<envelope>, headers=<ce_*>))

A `Draft` is everything the payload alone decides; `finish` adds what depends on
the submission's current state (`stale`) and on the project's personal-data
protection, validates the envelope against its schema and serializes it.
Pure: no I/O, no clock (the caller passes the times).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import orjson

from bridge.normalize import format_utc, normalize
from bridge.pii import DataKey, PiiTree, pii_tree, protect_envelope, split
from bridge.publish import Record
from bridge.schemas import SchemaRegistry, schema_uri
from bridge.state import Channel
from bridge.types import JSONObject, JSONValue

__all__ = [
    "CONTENT_TYPE",
    "ERASED_TYPE",
    "EVENT_SCHEMA_VERSION",
    "PROVIDER",
    "SCHEMA_VERSION",
    "SOURCE_PREFIX",
    "Draft",
    "Event",
    "EventFactory",
    "PiiMode",
    "canonical_json",
    "cloudevents_headers",
    "derive_event_id",
    "dumps",
    "format_received_at",
    "uuid_from_digest",
]

PROVIDER: JSONObject = {"provider": "argos", "product": "idcheck"}
SOURCE_PREFIX = "argos://idcheck"
SCHEMA_VERSION = 2
EVENT_SCHEMA_VERSION = SCHEMA_VERSION
ERASED_TYPE = "kyc.erased"
CONTENT_TYPE = b"application/json"

PiiMode = Literal["clear", "encrypt", "redact"]
_PII_VALUE = {"clear": "clear", "encrypt": "encrypted", "redact": "redacted"}

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


@dataclass(frozen=True, slots=True)
class Draft:
    """What the payload alone decides about its event (see the module docstring)."""

    event_id: str
    event_type: str
    schema: str
    key: str  # the Kafka record key (also the subject of its data key)
    subject: str | None  # submission_id, if any
    project: str
    channel: Channel
    time: str  # ce_time: the payload's event time, else the receive time
    head: JSONObject  # envelope members before `pii` and `stale`
    data: JSONObject
    raw: JSONObject
    warnings: tuple[str, ...] = ()
    status: str | None = None  # the KYC status the event reports
    status_time: str | None = None  # the ARGOS time ordering it (None: never stale)
    extra_headers: tuple[tuple[str, bytes], ...] = field(default=())

    @property
    def encrypted(self) -> bool:
        """Whether the payload arrived as an ARGOS encrypted body."""
        return self.head.get("encrypted") is True

    def with_status_time(self, status_time: str) -> Draft:
        """The same draft ordered by another ARGOS status time (reconciled results)."""
        return dataclasses.replace(self, status_time=status_time)


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
        self._documents = [registry.schema(name) for name in registry.names]
        self._trees: dict[str, PiiTree] = {}

    def pii_tree(self, schema: str) -> PiiTree:
        """The personal fields of `data` in schema `schema` (from its `x-kyc-pii` marking)."""
        tree = self._trees.get(schema)
        if tree is None:
            tree = self._trees[schema] = pii_tree(self._documents, schema_uri(schema))
        return tree

    def draft(
        self,
        payload: JSONObject,
        *,
        project: str,
        received_at: datetime,
        encrypted: bool,
        channel: Channel = "webhook",
        event_id: str | None = None,
    ) -> Draft:
        """Normalize a payload into its draft event (the id derives from it unless given)."""
        normalized = normalize(payload)
        event_id = event_id or derive_event_id(project, payload)
        schema = f"{normalized.event_type}.v{SCHEMA_VERSION}"
        received = format_received_at(received_at)
        head: JSONObject = {
            "event_id": event_id,
            "event_type": normalized.event_type,
            "schema_version": SCHEMA_VERSION,
            "schema": schema,
        }
        if normalized.subject is not None:
            head["subject"] = normalized.subject
        if normalized.occurred_at is not None:
            head["occurred_at"] = normalized.occurred_at
        head["received_at"] = received
        head["source"] = {**PROVIDER, "project": project, "channel": channel}
        head["encrypted"] = encrypted
        if normalized.trigger is not None:
            head["trigger"] = normalized.trigger
        if normalized.warnings:
            head["warnings"] = [w.as_json() for w in normalized.warnings]
        return Draft(
            event_id=event_id,
            event_type=normalized.event_type,
            schema=schema,
            key=normalized.key_hint or f"event:{event_id}",
            subject=normalized.subject,
            project=project,
            channel=channel,
            time=normalized.occurred_at or received,
            head=head,
            data=normalized.data,
            raw=payload,
            warnings=tuple(map(str, normalized.warnings)),
            status=normalized.status,
            status_time=normalized.status_time,
        )

    def finish(
        self,
        draft: Draft,
        *,
        stale: bool = False,
        pii: PiiMode = "clear",
        dek: DataKey | None = None,
    ) -> Event:
        """
        Complete the envelope (`pii`, `stale`, personal data per the mode), validate
        it against its schema and serialize it.

        Raises:
            SchemaValidationError: the envelope does not match its schema (a bug).
            ValueError: `pii` is "encrypt" without a data key.
        """
        head = {k: v for k, v in draft.head.items() if k != "warnings"}
        envelope: JSONObject = {**head, "pii": _PII_VALUE[pii], "stale": stale}
        if pii == "redact":
            envelope["data"] = split(draft.data, self.pii_tree(draft.schema))[0]
        else:
            envelope["data"] = draft.data
        if "warnings" in draft.head:
            envelope["warnings"] = draft.head["warnings"]
        if pii == "clear":
            envelope["raw"] = draft.raw
        elif pii == "encrypt":
            if dek is None:
                raise ValueError("the encrypt mode needs the subject's data key")
            envelope["raw"] = draft.raw
            envelope = protect_envelope(envelope, self.pii_tree(draft.schema), dek)
        self._registry.validate(draft.schema, envelope)
        headers = cloudevents_headers(
            event_id=draft.event_id,
            source=f"{self._source_prefix}/{draft.project}",
            event_type=draft.event_type,
            time=draft.time,
            schema=draft.schema,
            subject=draft.subject,
            extra=draft.extra_headers,
        )
        return Event(
            event_id=draft.event_id,
            event_type=draft.event_type,
            schema_version=SCHEMA_VERSION,
            subject=draft.subject,
            record=Record(draft.key.encode("utf-8"), dumps(envelope), headers),
            warnings=draft.warnings,
        )

    def build(
        self,
        payload: JSONObject,
        *,
        project: str,
        received_at: datetime,
        encrypted: bool,
        pii: PiiMode = "clear",
        dek: DataKey | None = None,
    ) -> Event:
        """
        `finish(draft(...))` for an event that is not stale.

        Raises:
            SchemaValidationError: the envelope does not match its schema (a bug).
        """
        draft = self.draft(payload, project=project, received_at=received_at, encrypted=encrypted)
        return self.finish(draft, pii=pii, dek=dek)

    def erased(
        self,
        *,
        subject: str,
        project: str,
        reason: Literal["argos_delete", "operator"],
        erased_at: datetime,
        key_ids: list[str],
        delete_event_id: str | None = None,
    ) -> Event:
        """
        The `kyc.erased` event of a subject whose data keys were erased (no personal data);
        its id derives from the subject and what caused the erasure. Its channel is
        "operator" for `kyc-bridge pii erase`, else "webhook" (ARGOS sent `delete`).

        Raises:
            SchemaValidationError: the event does not match `kyc.erased.v1` (a bug).
        """
        cause = delete_event_id or f"operator:{format_received_at(erased_at)}"
        digest = hashlib.sha256(f"erased\n{project}\n{subject}\n{cause}".encode()).digest()
        event_id = uuid_from_digest(digest)
        schema = f"{ERASED_TYPE}.v1"
        at = format_received_at(erased_at)
        data: JSONObject = {
            "submission_id": subject,
            "reason": reason,
            "erased_at": at,
            "key_ids": list[JSONValue](key_ids),
        }
        if delete_event_id is not None:
            data["delete_event_id"] = delete_event_id
        envelope: JSONObject = {
            "event_id": event_id,
            "event_type": ERASED_TYPE,
            "schema_version": 1,
            "schema": schema,
            "subject": subject,
            "occurred_at": at,
            "received_at": at,
            "source": {
                **PROVIDER,
                "project": project,
                "channel": "operator" if reason == "operator" else "webhook",
            },
            "encrypted": False,
            "pii": "clear",
            "stale": False,
            "data": data,
        }
        self._registry.validate(schema, envelope)
        headers = cloudevents_headers(
            event_id=event_id,
            source=f"{self._source_prefix}/{project}",
            event_type=ERASED_TYPE,
            time=at,
            schema=schema,
            subject=subject,
        )
        return Event(
            event_id=event_id,
            event_type=ERASED_TYPE,
            schema_version=1,
            subject=subject,
            record=Record(subject.encode("utf-8"), dumps(envelope), headers),
        )
