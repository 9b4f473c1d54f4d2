"""
The personal-data marking (`"x-kyc-pii": true` in schemas/): complete for the fixtures,
read by the log redactor and the encryption alike, and the v2 schemas' protected modes
follow it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from bridge.events import EventFactory
from bridge.logs import ALWAYS_REDACTED, Redactor
from bridge.normalize.fields import SUBMISSION
from bridge.pii import PII_MARK, PiiTree, pii_tree, split
from bridge.pii.marking import personal_keys
from bridge.schemas import load_registry, schema_uri
from bridge.types import JSONObject, JSONValue
from tests.fixtures.make_encrypted import FIXTURES, load_payload

REGISTRY = load_registry()
DOCUMENTS = [REGISTRY.schema(name) for name in REGISTRY.names]
V2_EVENTS = sorted(
    name for name in REGISTRY.names if name.startswith("kyc.") and name.endswith(".v2")
)
ARGOS_V2_EVENTS = [name for name in V2_EVENTS if name != "kyc.dead_letter.v2"]
FIELDS_TREE = pii_tree(DOCUMENTS, schema_uri("kyc.unknown.v2"))  # every argos.fields property

# ARGOS source keys (any spelling) whose values are personal, chosen independently of the
# schemas: every scalar under such a key in a fixture is a canary.
PERSONAL_SOURCE_KEYS = frozenset(
    k.replace("_", "").lower()
    for k in (
        "email", "account_email", "admin", "fullName", "full_name_en", "firstName", "lastName",
        "name", "phoneNumber", "ssnNumber", "identityNumber", "documentNumber", "date_of_birth",
        "birthDate", "ipAddress", "address", "gender", "nationality", "issuingCountry",
        "issueDate", "expireDate", "duplicated_information", "comment", "memo", "cf",
        "cf1", "cf2", "cf3", "Auth_cf1", "Auth_cf2", "Auth_cf3", "additional_list",
        "addtional_list",
    )
)  # fmt: skip

# Keys of the log redactor's list that are not marked data properties, and why.
JOIN_IDENTIFIERS = {"userid", "applicantid"}  # clear in events (issue 11); kept out of logs
SECRETS = {"token", "tokens", "authtoken", "apikey", "apikeys", "authorization", "password"}
SECRETS |= {"secret"}
CONTAINERS = {"body", "payload", "data", "plaintext", "ciphertext", "headers"}  # whole payloads
UNMAPPED = {"name", "address", "birthdate"}  # no ARGOS field: such a key lands in data.extra
JUSTIFIED = JOIN_IDENTIFIERS | SECRETS | CONTAINERS | UNMAPPED

# Fields that must stay readable without keys: joins, routing, dashboards.
CLEAR_FIELDS = [
    *("submission_id", "user_id", "token_id", "applicant_id", "auth_id", "status", "age_group"),
    *("id_type", "retry_code", "attempts", "created_at", "updated_at", "deleted_at"),
    *("updated_fields", "action", "aml_result", "records", "expired_condition", "expired_at"),
    *("expected_expired_at", "service"),
]


def _normalized(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def _scalars(value: JSONValue) -> Iterator[JSONValue]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    elif value is not None and not isinstance(value, bool) and value != "":
        yield value


def _canaries(value: JSONValue) -> set[str]:
    """Every non-empty scalar under a personal source key, as JSON text."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if _normalized(key) in PERSONAL_SOURCE_KEYS:
                found |= {orjson.dumps(s).decode() for s in _scalars(item)}
            else:
                found |= _canaries(item)
    elif isinstance(value, list):
        for item in value:
            found |= _canaries(item)
    return found


def _texts(value: JSONValue) -> set[str]:
    return {orjson.dumps(s).decode() for s in _scalars(value)}


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_every_personal_fixture_value_is_under_a_marked_path(path: Path) -> None:
    """After normalization and split, no personal fixture value is left in the clear part."""
    payload = load_payload(path)
    event = EventFactory(REGISTRY).build(
        payload, project="acme", received_at=datetime(2025, 6, 30, tzinfo=UTC), encrypted=False
    )
    envelope = orjson.loads(event.record.value or b"")
    tree = pii_tree(DOCUMENTS, schema_uri(envelope["schema"]))
    clear, personal = split(envelope["data"], tree)
    published = {k: v for k, v in envelope.items() if k != "raw"} | {"data": clear}
    canaries = _canaries(payload)
    assert set() == canaries & _texts(published)
    assert set() == canaries - _texts(personal)


def _marked_names(value: JSONValue) -> set[str]:
    """Every property name whose schema carries the marking, in any schema document."""
    names: set[str] = set()
    if isinstance(value, dict):
        properties = value.get("properties")
        if isinstance(properties, dict):
            names |= {n for n, s in properties.items() if isinstance(s, dict) and s.get(PII_MARK)}
        for item in value.values():
            names |= _marked_names(item)
    elif isinstance(value, list):
        for item in value:
            names |= _marked_names(item)
    return names


def _marked_path(tree: PiiTree, path: tuple[str, ...]) -> bool:
    node: PiiTree | bool = tree
    for segment in path:
        if node is True:
            return True
        child = node.get(segment) if isinstance(node, dict) else None
        if child is None:
            return False
        node = child
    return node is True


REDACTOR = Redactor(personal_keys(DOCUMENTS))


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_the_log_redactor_and_the_encryption_agree_on_every_fixture(path: Path) -> None:
    """
    Both read the one marking: every personal value the split encrypts is redacted when
    its payload key (ARGOS spelling) or its canonical key reaches a log line.
    """
    payload = load_payload(path)
    draft = EventFactory(REGISTRY).draft(
        payload, project="acme", received_at=datetime(2025, 6, 30, tzinfo=UTC), encrypted=False
    )
    _, personal = split(draft.data, pii_tree(DOCUMENTS, schema_uri(draft.schema)))
    # `extra` (unmapped values) is encrypted whole; under their unknown ARGOS keys such
    # values are not redacted by name: logs never carry payloads, the marking covers
    # every named field.
    named = {k: v for k, v in personal.items() if k != "extra"}
    for line, encrypted in ((dict(payload), named), (dict(draft.data), personal)):
        logged: JSONObject = dict(REDACTOR(None, "info", {"event": "probe", **line}))
        assert set() == _texts(encrypted) & _texts(logged), path.stem


def test_redacted_keys_are_the_marking_and_its_spellings() -> None:
    """The redactor's personal keys are exactly the marked names and their ARGOS spellings."""
    marked = {_normalized(name) for document in DOCUMENTS for name in _marked_names(document)}
    spellings = {
        _normalized(source)
        for source, rule in SUBMISSION.items()
        if rule.target and _marked_path(FIELDS_TREE, rule.target)
    }
    keys = personal_keys(DOCUMENTS)
    assert marked <= keys
    assert spellings <= keys
    assert set() == keys & {_normalized(f) for f in CLEAR_FIELDS}  # the marking keeps them
    assert {"userid", "applicantid"} <= ALWAYS_REDACTED  # clear in events, kept out of logs


@pytest.mark.parametrize("field", CLEAR_FIELDS)
def test_join_identifiers_and_routing_fields_stay_clear(field: str) -> None:
    """Identifiers downstream services join on, statuses, times and codes are not marked."""
    assert field not in FIELDS_TREE


@pytest.mark.parametrize("field", ["gender", "nationality", "date_of_birth", "extra", "comment"])
def test_quasi_identifiers_and_free_text_are_marked(field: str) -> None:
    """Gender, nationality, birth date, free text and the unmapped `extra` are personal."""
    assert FIELDS_TREE.get(field) is True


def _member(value: JSONValue, *keys: str) -> JSONValue:
    for key in keys:
        assert isinstance(value, dict)
        value = value[key]
    return value


def _forbidden(schema: JSONObject) -> JSONValue:
    """Return the data properties an event schema forbids when `pii` is not clear."""
    members = schema.get("allOf")
    for member in members if isinstance(members, list) else []:
        if _member(member, "if", "properties", "pii") == {"enum": ["encrypted", "redacted"]}:
            return _member(member, "then", "properties", "data")
    return None


def _as_forbidden(tree: PiiTree) -> JSONValue:
    return {
        "properties": {
            key: False if node is True else _as_forbidden(node) for key, node in tree.items()
        }
    }


@pytest.mark.parametrize("name", ARGOS_V2_EVENTS)
def test_protected_modes_forbid_exactly_the_marked_fields(name: str) -> None:
    """Each v2 event schema forbids, when pii is not clear, exactly the marked data fields."""
    tree = pii_tree(DOCUMENTS, schema_uri(name))
    assert FIELDS_TREE == tree
    assert _as_forbidden(tree) == _forbidden(REGISTRY.schema(name))


def _required_anywhere(value: JSONValue) -> list[JSONValue]:
    if isinstance(value, dict):
        found = [value["required"]] if "required" in value else []
        nested = [item for key, item in value.items() if key != "not"]  # "not": forbidden
        return found + [r for item in nested for r in _required_anywhere(item)]
    if isinstance(value, list):
        return [r for item in value for r in _required_anywhere(item)]
    return []


@pytest.mark.parametrize("name", [*V2_EVENTS, "argos.fields.v1"])
def test_no_personal_field_is_required(name: str) -> None:
    """Nothing in `data` of a v2 event (nor in the field catalogue) requires a marked field."""
    schema = REGISTRY.schema(name)
    data = schema if name == "argos.fields.v1" else _member(schema, "properties", "data")
    required = {str(n) for r in _required_anywhere(data) if isinstance(r, list) for n in r}
    marked = _marked_names(REGISTRY.schema("argos.fields.v1")) | _marked_names(data)
    assert set() == required & marked


@pytest.mark.parametrize("name", ["kyc.erased.v1", "kyc.state.v1", "kyc.pii_key.v1"])
def test_new_records_hold_nothing_personal(name: str) -> None:
    """kyc.erased, the state value and key records have no marked (personal) property."""
    schema = REGISTRY.schema(name)
    assert (set(), {}) == (_marked_names(schema), pii_tree(DOCUMENTS, schema_uri(name)))
