"""protect_envelope / reveal_envelope on every example event."""

from __future__ import annotations

import orjson
import pytest

from bridge.pii.envelope import protect_envelope, reveal_envelope
from bridge.pii.errors import EventMismatchError, KeyUnavailableError, TamperedError
from bridge.pii.keys import DataKey, new_data_key
from bridge.pii.paths import pii_tree, split
from bridge.types import JSONObject, JSONValue
from tests.pii.corpus import DOCUMENTS, EXAMPLES

IDS = [f"{e['schema']}:{e['event_id']}" for _, e in EXAMPLES]


def _strings(value: JSONValue) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.fixture(name="dek")
def _dek() -> DataKey:
    """A fresh data key."""
    return new_data_key("subject")


@pytest.mark.parametrize(("schema_id", "envelope"), EXAMPLES, ids=IDS)
def test_every_example_round_trips_and_leaks_nothing(
    schema_id: str, envelope: JSONObject, dek: DataKey
) -> None:
    """reveal(protect(e)) == e; the protected bytes hold no personal string, and no raw."""
    tree = pii_tree(DOCUMENTS, schema_id)
    protected = protect_envelope(envelope, tree, dek)
    assert "raw" not in protected
    data = envelope["data"]
    assert isinstance(data, dict)
    clear, personal = split(data, tree)
    assert clear == protected["data"]
    published = orjson.dumps(protected).decode()
    clear_strings = set(_strings(clear))
    canaries = [s for s in _strings(personal) if len(s) >= 6 and s not in clear_strings]
    assert [] == [canary for canary in canaries if canary in published]
    assert envelope == reveal_envelope(protected, {dek.kid: dek}.get)


def test_reveal_leaves_unprotected_envelopes_alone(dek: DataKey) -> None:
    """A clear or redacted envelope comes back unchanged."""
    redacted: JSONObject = {"event_id": "e1", "data": {"submission_id": "s"}, "pii": "redacted"}
    assert redacted == reveal_envelope(redacted, {dek.kid: dek}.get)


def test_reveal_sets_the_pii_marker_to_clear(dek: DataKey) -> None:
    """The `pii` member says "clear" after revealing, so the result equals clear mode."""
    envelope: JSONObject = {
        "event_id": "e1",
        "pii": "clear",
        "data": {"email": "x@example.com"},
        "raw": {"a": 1},
    }
    protected = protect_envelope(envelope, {"email": True}, dek)
    assert envelope == reveal_envelope({**protected, "pii": "encrypted"}, {dek.kid: dek}.get)


def test_protected_member_copied_to_another_record_is_refused(dek: DataKey) -> None:
    """Moving `protected` into a record with another event id raises EventMismatchError."""
    first = protect_envelope({"event_id": "e1", "data": {}, "raw": {}}, {}, dek)
    second = protect_envelope({"event_id": "e2", "data": {}, "raw": {}}, {}, dek)
    with pytest.raises(EventMismatchError):
        reveal_envelope({**second, "protected": first["protected"]}, {dek.kid: dek}.get)


@pytest.mark.parametrize(
    "envelope",
    [
        pytest.param({"data": {}}, id="no-event-id"),
        pytest.param({"event_id": "e1", "data": "text"}, id="data-not-object"),
    ],
)
def test_protect_needs_event_id_and_data(envelope: JSONObject, dek: DataKey) -> None:
    """An envelope without a string event_id or an object data raises TamperedError."""
    with pytest.raises(TamperedError):
        protect_envelope(envelope, {}, dek)


def test_reveal_without_the_key_raises(dek: DataKey) -> None:
    """reveal_envelope with a lookup that lacks the DEK raises KeyUnavailableError."""
    protected = protect_envelope({"event_id": "e1", "data": {}, "raw": {}}, {}, dek)
    with pytest.raises(KeyUnavailableError):
        reveal_envelope(protected, lambda _kid: None)
