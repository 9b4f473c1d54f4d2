"""EventFactory: envelope, deterministic ids, keys, CloudEvents headers, validation."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings

from bridge.errors import SchemaValidationError
from bridge.events import Event, EventFactory, canonical_json, derive_event_id, dumps
from bridge.schemas import SchemaRegistry, load_registry
from bridge.types import JSONObject
from tests.normalize.corpus import fixture_names, load_fixture
from tests.normalize.strategies import payloads

RECEIVED = datetime(2025, 6, 30, 12, 0, 0, 250_999, tzinfo=UTC)
REGISTRY = load_registry()
FACTORY = EventFactory(REGISTRY)
APPROVED: JSONObject = {
    "webhook_trigger": "approved",
    "submission_id": "c7b1e4a2-9d3f-4e8a-b6c5-2f1a0d9e8b74",
    "kyc_result": {"status": "approved", "updated_at": "2025-03-14T18:21:07.412+09:00"},
}


def _build(payload: JSONObject, project: str = "acme", *, encrypted: bool = False) -> Event:
    return FACTORY.build(payload, project=project, received_at=RECEIVED, encrypted=encrypted)


def _value(event: Event) -> JSONObject:
    value = orjson.loads(event.record.value or b"")
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("name", fixture_names())
def test_every_fixture_builds_a_valid_event(name: str) -> None:
    """Every fixture becomes an event of its type, with its key, valid against its schema."""
    expect = load_fixture(name)["expect"]
    event = _build(load_fixture(name)["payload"])
    assert expect["event_type"] == event.event_type
    assert expect["key"].format(event_id=event.event_id) == event.key
    value = _value(event)
    REGISTRY.validate(str(value["schema"]), value)
    assert expect.get("occurred_at") == value.get("occurred_at")


def test_envelope_fields_and_order() -> None:
    """The envelope carries ids, times, source, trigger, data and the unchanged raw payload."""
    event = _build(APPROVED, encrypted=True)
    value = _value(event)
    assert list(value) == [
        "event_id", "event_type", "schema_version", "schema", "subject", "occurred_at",
        "received_at", "source", "encrypted", "trigger", "pii", "stale", "data", "raw",
    ]  # fmt: skip
    assert {
        "event_id": event.event_id,
        "event_type": "kyc.approved",
        "schema_version": 2,
        "schema": "kyc.approved.v2",
        "subject": "c7b1e4a2-9d3f-4e8a-b6c5-2f1a0d9e8b74",
        "occurred_at": "2025-03-14T09:21:07.412Z",
        "received_at": "2025-06-30T12:00:00.250Z",
        "source": {
            "provider": "argos",
            "product": "idcheck",
            "project": "acme",
            "channel": "webhook",
        },
        "encrypted": True,
        "trigger": "approved",
        "pii": "clear",
        "stale": False,
    }.items() <= value.items()
    assert value["raw"] == APPROVED


@pytest.mark.parametrize("encrypted", [True, False])
def test_a_draft_knows_whether_its_body_arrived_encrypted(encrypted: bool) -> None:
    """What decides whether a dead letter may keep the body as received in protected modes."""
    draft = FACTORY.draft(APPROVED, project="acme", received_at=RECEIVED, encrypted=encrypted)
    assert encrypted is draft.encrypted


def test_event_id_is_a_deterministic_uuid8() -> None:
    """Same project and payload (any key order) give the same RFC 9562 v8 id; project matters."""
    reordered = dict(reversed(list(APPROVED.items())))
    first, again = _build(APPROVED), _build(reordered, encrypted=True)
    assert first.event_id == again.event_id == derive_event_id("acme", APPROVED)
    parsed = uuid.UUID(first.event_id)
    assert (parsed.version, parsed.variant) == (8, uuid.RFC_4122)
    assert first.event_id != _build(APPROVED, project="other").event_id


def test_event_id_derivation_is_documented_formula() -> None:
    """event_id = uuid8(sha256(project + "\\n" + canonical JSON)), first 16 bytes."""
    digest = bytearray(hashlib.sha256(b"acme\n" + canonical_json(APPROVED)).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80
    digest[8] = (digest[8] & 0x3F) | 0x80
    assert str(uuid.UUID(bytes=bytes(digest))) == derive_event_id("acme", APPROVED)


def test_cloudevents_headers() -> None:
    """Binary-mode headers: specversion, id, source, type, time, subject, dataschema, type."""
    event = _build(APPROVED)
    assert (
        ("ce_specversion", b"1.0"),
        ("ce_id", event.event_id.encode()),
        ("ce_source", b"argos://idcheck/acme"),
        ("ce_type", b"kyc.approved"),
        ("ce_time", b"2025-03-14T09:21:07.412Z"),
        ("ce_subject", b"c7b1e4a2-9d3f-4e8a-b6c5-2f1a0d9e8b74"),
        ("ce_dataschema", b"urn:kyc-bridge:schema:kyc.approved.v2"),
        ("content-type", b"application/json"),
        ("kyc_schema", b"kyc.approved.v2"),
    ) == event.record.headers


def test_headers_without_subject_or_event_time() -> None:
    """No submission_id: no ce_subject; no readable event time: ce_time is received_at."""
    event = EventFactory(REGISTRY, source_prefix="argos://test").build(
        {"webhook_trigger": "aml"}, project="p1", received_at=RECEIVED, encrypted=False
    )
    headers = dict(event.record.headers)
    assert "ce_subject" not in headers
    assert headers["ce_time"] == b"2025-06-30T12:00:00.250Z"
    assert headers["ce_source"] == b"argos://test/p1"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"webhook_trigger": "approved", "submission_id": "s-1"}, "s-1"),
        ({"webhook_trigger": "faceAuth", "data": {"Submission_id": "s-2"}}, "s-2"),
        ({"webhook_trigger": "token_expired", "token_id": "tok_1"}, "token:tok_1"),
        ({"webhook_trigger": "argos_id_auth", "consent_id": "c-1"}, "event:{event_id}"),
        ({"webhook_trigger": "approved", "submission_id": ""}, "event:{event_id}"),
    ],
)
def test_key_fallbacks(payload: JSONObject, expected: str) -> None:
    """Key: submission_id, else token:<token_id>, else event:<event_id>; never empty."""
    event = _build(payload)
    assert expected.format(event_id=event.event_id) == event.key


def test_naive_and_offset_received_at_become_utc_milliseconds() -> None:
    """received_at is RFC 3339 UTC with exactly millisecond precision."""
    seoul = datetime(2025, 6, 30, 21, 0, 0, 123_456, tzinfo=timezone(timedelta(hours=9)))
    event = FACTORY.build({"webhook_trigger": "x"}, project="a", received_at=seoul, encrypted=False)
    assert _value(event)["received_at"] == "2025-06-30T12:00:00.123Z"


def test_warnings_reach_envelope_and_event() -> None:
    """Values kept as given are listed in the envelope (path+code) and on Event.warnings."""
    payload: JSONObject = {"webhook_trigger": "delete", "delete_time": "yesterday"}
    event = _build(payload)
    assert _value(event)["warnings"] == [{"path": "data.deleted_at", "code": "unparsed_timestamp"}]
    assert event.warnings == ("unparsed_timestamp:data.deleted_at",)
    assert b"yesterday" not in orjson.dumps(_value(event)["warnings"])


def test_event_is_frozen_pure_data() -> None:
    """Event is an immutable value."""
    event = _build(APPROVED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.event_id = "other"  # type: ignore[misc]


def test_schema_error_message_has_paths_not_values() -> None:
    """A schema mismatch raises SchemaValidationError naming path and keyword, never the value."""
    schemas = {name: REGISTRY.schema(name) for name in REGISTRY.names}
    strict = orjson.loads(orjson.dumps(schemas["kyc.approved.v2"]))
    strict["properties"]["data"]["properties"]["email"] = {"type": "integer"}
    schemas["kyc.approved.v2"] = strict
    factory = EventFactory(SchemaRegistry(schemas))
    secret = "leaky.person@example.com"
    payload: JSONObject = {"webhook_trigger": "approved", "email": secret}
    with pytest.raises(SchemaValidationError) as caught:
        factory.build(payload, project="acme", received_at=RECEIVED, encrypted=False)
    assert secret not in str(caught.value)
    assert "$.data.email (type)" in str(caught.value)
    assert caught.value.code == "schema_validation_failed"


def test_huge_integers_still_serialize() -> None:
    """Integers beyond 64 bits (stdlib json input) do not break ids or serialization."""
    payload: JSONObject = {"webhook_trigger": "retry", "attempts": 2**70}
    event = _build(payload)
    raw = _value(event)["raw"]
    assert isinstance(raw, dict)
    assert raw["attempts"] == 2**70
    assert payload == json.loads(canonical_json(payload))
    assert payload == json.loads(dumps(payload))


@settings(max_examples=300, deadline=None)
@given(payloads())
def test_build_never_raises_and_validates(payload: JSONObject) -> None:
    """Any JSON object becomes a schema-valid event with a non-empty key and an unchanged raw."""
    event = _build(payload)
    assert event.key
    value = _value(event)
    assert orjson.loads(dumps(payload)) == value["raw"]
    assert event.event_id == derive_event_id("acme", payload)


def test_docs_example_record_is_current() -> None:
    """The example value in docs/events.md is exactly what the bridge publishes for it."""
    docs = (Path(__file__).parents[1] / "docs" / "events.md").read_text(encoding="utf-8")
    documented = orjson.loads(docs.split("```json\n", 1)[1].split("```", 1)[0])
    event = FACTORY.build(
        load_fixture("rejected")["payload"],
        project="acme",
        received_at=datetime(2025, 6, 30, 12, 0, 0, 250_000, tzinfo=UTC),
        encrypted=True,
    )
    assert documented == _value(event)
    assert f"ce_id           {event.event_id}" in docs


@pytest.mark.parametrize(
    ("reason", "channel", "delete_event_id"),
    [
        ("argos_delete", "webhook", "621e3c05-6179-8fe0-b5c0-1ec1d43b5c1f"),
        ("operator", "operator", None),
    ],
)
def test_erased_event_names_the_channel_of_its_cause(
    reason: str, channel: str, delete_event_id: str | None
) -> None:
    """kyc.erased validates for both causes: an operator's erasure has channel "operator"."""
    event = FACTORY.erased(
        subject="8a0c2e4f-5b7d-4f91-a3c5-e7f9b1d3a5c8",
        project="acme",
        reason="operator" if reason == "operator" else "argos_delete",
        erased_at=RECEIVED,
        key_ids=["ZXhhbXBsZS1kZWstMDAwMQ"],
        delete_event_id=delete_event_id,
    )
    value = _value(event)
    source, data = value["source"], value["data"]
    assert isinstance(source, dict)
    assert isinstance(data, dict)
    assert (channel, reason) == (source["channel"], data["reason"])
