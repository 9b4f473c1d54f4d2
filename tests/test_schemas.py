"""Schemas as data: lint, index, examples, registry behaviour and the compatibility check."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import jsonschema_rs
import orjson
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from bridge.config import PiiMode
from bridge.errors import ConfigError, SchemaValidationError
from bridge.events import EventFactory
from bridge.normalize import TRIGGERS, UNKNOWN
from bridge.pii import InlineSealed, JwksFileKek, KeyRecord, key_record, new_data_key, seal_inline
from bridge.schemas import (
    SCHEMA_SUFFIX,
    SchemaRegistry,
    load_registry,
    schema_uri,
)
from bridge.types import JSONObject, JSONValue
from tests.fixtures import make_examples, make_examples_v2
from tests.fixtures.make_encrypted import FIXTURES, load_payload

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIRECTORY = ROOT / "schemas"  # the source of truth the package ships
SCRIPT = ROOT / "scripts" / "schema_compat.py"
INDEX = orjson.loads((DEFAULT_DIRECTORY / "index.json").read_bytes())
SCHEMA_FILES = sorted(DEFAULT_DIRECTORY.glob(f"*{SCHEMA_SUFFIX}"))
EVENT_ENTRIES = [e for e in INDEX["schemas"] if e["kind"] == "event"]
REGISTRY = load_registry()  # compiled once: every example test shares it
REGISTRY_DOCUMENTS = [REGISTRY.schema(name) for name in REGISTRY.names]
EXAMPLE_ENTRIES = [e for e in INDEX["schemas"] if "examples" in e]  # events and values
EXAMPLES = sorted(
    (entry["name"], path)
    for entry in EXAMPLE_ENTRIES
    for path in (DEFAULT_DIRECTORY / entry["examples"]).glob("*.json")
)


def _load_compat() -> ModuleType:
    spec = importlib.util.spec_from_file_location("schema_compat", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["schema_compat"] = module
    spec.loader.exec_module(module)
    return module


compat = _load_compat()


def _read(path: Path) -> JSONObject:
    document = orjson.loads(path.read_bytes())
    assert isinstance(document, dict)
    return document


# --------------------------------------------------------------------------- lint


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_schema_is_valid_draft_2020_12(path: Path) -> None:
    """Each schema passes the draft 2020-12 meta-schema and declares that dialect."""
    schema = _read(path)
    assert "https://json-schema.org/draft/2020-12/schema" == schema["$schema"]
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_schema_id_title_and_file_name_agree(path: Path) -> None:
    """$id is urn:kyc-bridge:schema:<file name>; title and description are present."""
    schema = _read(path)
    assert schema_uri(path.name.removesuffix(SCHEMA_SUFFIX)) == schema["$id"]
    assert str(schema.get("title", "")).strip()
    assert str(schema.get("description", "")).strip()


def test_index_lists_every_schema_file() -> None:
    """index.json and the schema files match one to one; every entry is complete."""
    listed = {entry["resource"] for entry in INDEX["schemas"]}
    assert {p.name for p in SCHEMA_FILES} == listed
    for entry in INDEX["schemas"]:
        assert entry["status"] in {"published", "draft"}
        assert entry["kind"] in {"envelope", "definitions", "event", "value"}
        assert f"{entry['name']}{SCHEMA_SUFFIX}" == entry["resource"]
        assert entry["name"].endswith(f".v{entry['version']}")


def test_every_event_type_has_a_schema_and_examples() -> None:
    """Triggers' event types, kyc.unknown and kyc.dead_letter have v1 and v2; kyc.erased v1."""
    event_types = {t.event_type for t in TRIGGERS.values()} | {UNKNOWN.event_type}
    event_types.add("kyc.dead_letter")
    expected = {(t, v) for t in event_types for v in (1, 2)} | {("kyc.erased", 1)}
    assert expected == {(entry["event_type"], entry["version"]) for entry in EVENT_ENTRIES}
    assert {"kyc.state.v1", "kyc.pii_key.v1"} == {
        e["name"] for e in INDEX["schemas"] if e["kind"] == "value"
    }
    for entry in EXAMPLE_ENTRIES:
        base = entry["name"].removesuffix(f".v{entry['version']}")
        assert f"examples/{base}/{entry['version']}/" == entry["examples"]
        assert list((DEFAULT_DIRECTORY / entry["examples"]).glob("*.json")), entry["name"]


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize(("name", "path"), EXAMPLES, ids=[f"{n}/{p.stem}" for n, p in EXAMPLES])
def test_example_validates(name: str, path: Path) -> None:
    """Every example validates against the schema whose examples dir holds it (and names it)."""
    example = _read(path)
    assert name == example.get("schema", name)  # a key record value names no schema
    REGISTRY.validate(name, example)


@pytest.mark.parametrize("mode", ["clear", "redact", "encrypt"])
def test_v2_examples_are_what_the_event_factory_builds(mode: PiiMode) -> None:
    """Every fixture's v2 example, in each mode, equals the real factory's output."""
    factory = EventFactory(REGISTRY)
    suffix = {"clear": "clear", "redact": "redacted", "encrypt": "encrypted"}[mode]
    compared = 0
    for path in sorted(FIXTURES.glob("*.json")):
        draft = factory.draft(
            load_payload(path),
            project=make_examples.PROJECT,
            received_at=make_examples.RECEIVED_AT,
            encrypted=False,
        )
        event = factory.finish(draft, pii=mode, dek=make_examples_v2.EXAMPLE_DEK)
        example = make_examples.EXAMPLES / event.event_type / "2" / f"{path.stem}.{suffix}.json"
        built = orjson.dumps(orjson.loads(event.record.value or b""), option=orjson.OPT_INDENT_2)
        assert make_examples_v2.comparable(example.read_bytes()) == make_examples_v2.comparable(
            built
        ), example.name
        compared += 1
    assert compared == len(list(FIXTURES.glob("*.json")))


def test_v2_examples_are_current() -> None:
    """The committed v2 and new-schema examples match their derivation (opened with test keys)."""
    expected = make_examples_v2.expected_files()
    assert sorted(expected) == make_examples_v2.owned()
    stale = [
        path.name
        for path, content in expected.items()
        if make_examples_v2.comparable(content) != make_examples_v2.comparable(path.read_bytes())
    ]
    assert [] == stale


# --------------------------------------------------------------------------- registry


def test_registry_loads_every_schema_from_the_repo() -> None:
    """load_registry() finds the repo's schemas/ without arguments."""
    assert [p.name.removesuffix(SCHEMA_SUFFIX) for p in SCHEMA_FILES] == list(load_registry().names)


def test_validate_accepts_the_schema_uri_and_rejects_unknown_names() -> None:
    """validate() takes a name or its $id; an unknown schema is a SchemaValidationError."""
    registry = load_registry()
    example = _read(EXAMPLES[0][1])
    registry.validate(schema_uri(EXAMPLES[0][0]), example)
    with pytest.raises(SchemaValidationError, match="no schema named"):
        registry.validate("kyc.nope.v1", example)


def test_validation_errors_list_paths_and_keywords_only() -> None:
    """Messages name JSON paths and keywords, never the offending values."""
    example = _read(DEFAULT_DIRECTORY / "examples/kyc.approved/1/approved_old_id_document.json")
    example["event_id"] = "Sensitive-Identifier"
    example["source"] = {"provider": "Sensitive-Provider"}
    with pytest.raises(SchemaValidationError) as caught:
        load_registry().validate("kyc.approved.v1", example)
    message = str(caught.value)
    assert "Sensitive" not in message
    assert "$.event_id (pattern)" in message
    assert "$.source (required)" in message


@pytest.mark.parametrize(
    ("files", "match"),
    [
        ({"a.v1.schema.json": b'{"$id": "urn:kyc-bridge:schema:b.v1"}'}, r"\$id must be"),
        ({"a.v1.schema.json": b'{"$id": "urn:kyc-bridge:schema:a.v1", "type": 5}'}, "invalid"),
        ({"a.v1.schema.json": b"{not json"}, "invalid JSON"),
        ({"a.v1.schema.json": b"[]"}, "not a JSON object"),
        ({}, "no \\*.schema.json files"),
    ],
)
def test_load_registry_rejects_bad_schema_directories(
    tmp_path: Path, files: dict[str, bytes], match: str
) -> None:
    """A broken schema directory is a ConfigError at startup, naming what is wrong."""
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    with pytest.raises(ConfigError, match=match):
        load_registry(tmp_path)


def test_registry_resolves_refs_offline() -> None:
    """$ref between schemas resolve from memory (an unknown $ref target fails at use)."""
    registry = SchemaRegistry(
        {
            "kyc.a.v1": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": schema_uri("kyc.a.v1"),
                "$ref": schema_uri("kyc.b.v1"),
            },
            "kyc.b.v1": {"$id": schema_uri("kyc.b.v1"), "type": "object"},
        }
    )
    registry.validate("kyc.a.v1", {})
    with pytest.raises(SchemaValidationError):
        registry.validate("kyc.a.v1", [])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- v2 and new schemas

REFERENCE = (
    Registry()
    .with_resources((str(d["$id"]), DRAFT202012.create_resource(d)) for d in REGISTRY_DOCUMENTS)
    .crawl()
)
FAST = jsonschema_rs.Registry([(str(d["$id"]), d) for d in REGISTRY_DOCUMENTS])
V2 = DEFAULT_DIRECTORY / "examples"
DELETE = "<delete>"  # a change that removes the member
ARGOS_V2 = sorted(
    (e["name"], path)
    for e in EVENT_ENTRIES
    if e["version"] == 2 and e["event_type"] != "kyc.dead_letter"
    for path in (DEFAULT_DIRECTORY / e["examples"]).glob("*.json")
)


def _mode(pii: str) -> list[tuple[str, Path]]:
    return [(name, path) for name, path in ARGOS_V2 if path.stem.endswith(f".{pii}")]


def _changed(path: Path, changes: dict[str, JSONValue]) -> JSONObject:
    """Return the example at `path` with each dotted member set (or removed: DELETE)."""
    document = _read(path)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node: JSONValue = document
        for part in parents:
            assert isinstance(node, dict)
            node = node[part]
        assert isinstance(node, dict)
        if value == DELETE:
            del node[last]
        else:
            node[last] = value
    return document


def _dig(value: JSONValue, dotted: str) -> JSONValue:
    for key in dotted.split("."):
        assert isinstance(value, dict)
        value = value[key]
    return value


def _names(value: JSONValue) -> list[str]:
    assert isinstance(value, list)
    return sorted(str(item) for item in value)


def _verdicts(name: str, instance: JSONObject) -> tuple[bool, bool]:
    """Whether the reference implementation and jsonschema-rs each accept `instance`."""
    schema = REGISTRY.schema(name)
    reference = Draft202012Validator(schema, registry=REFERENCE).is_valid(instance)
    fast = jsonschema_rs.Draft202012Validator(schema, registry=FAST).is_valid(instance)
    return reference, fast


def _ids(cases: list[tuple[str, Path]]) -> list[str]:
    return [path.stem for _, path in cases]


def test_every_v2_event_has_an_example_in_each_mode() -> None:
    """Each ARGOS v2 schema has clear, redacted and encrypted examples."""
    modes = {name: set[str]() for name, _ in ARGOS_V2}
    for name, path in ARGOS_V2:
        modes[name].add(str(_read(path)["pii"]))
    assert {name: {"clear", "redacted", "encrypted"} for name in modes} == modes
    assert 14 == len(modes)


@pytest.mark.parametrize(("name", "path"), _mode("clear"), ids=_ids(_mode("clear")))
def test_clear_example_without_raw_fails(name: str, path: Path) -> None:
    """pii clear requires raw (the envelope no longer does; each event schema does)."""
    assert (True, True) == _verdicts(name, _read(path))
    assert (False, False) == _verdicts(name, _changed(path, {"raw": DELETE}))


@pytest.mark.parametrize(("name", "path"), _mode("encrypted"), ids=_ids(_mode("encrypted")))
def test_encrypted_example_needs_protected_and_no_raw(name: str, path: Path) -> None:
    """pii encrypted requires protected and forbids raw and every personal data field."""
    raw = _read(path.with_name(path.name.replace(".encrypted.", ".clear.")))["raw"]
    assert (True, True) == _verdicts(name, _read(path))
    assert (False, False) == _verdicts(name, _changed(path, {"protected": DELETE}))
    assert (False, False) == _verdicts(name, _changed(path, {"raw": raw}))
    assert (False, False) == _verdicts(name, _changed(path, {"data.email": "x"}))


@pytest.mark.parametrize(("name", "path"), _mode("redacted"), ids=_ids(_mode("redacted")))
def test_redacted_example_has_no_raw_protected_or_personal_field(name: str, path: Path) -> None:
    """pii redacted forbids raw, protected, personal fields (nested ones too)."""
    protected = _read(path.with_name(path.name.replace(".redacted.", ".encrypted.")))["protected"]
    assert (True, True) == _verdicts(name, _read(path))
    table: list[dict[str, JSONValue]] = [
        {"raw": {}},
        {"protected": protected},
        {"data.full_name": "x"},
        {"data.extra": {}},
        {"data.review": {"comment": "x"}},
        {"data.reference": {"email": "x"}},
    ]
    for changes in table:
        assert (False, False) == _verdicts(name, _changed(path, changes)), changes


FIRST_CLEAR = sorted(dict(reversed(_mode("clear"))).items())  # one clear example per schema


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        ({"pii": DELETE}, False),
        ({"stale": DELETE}, False),
        ({"source.channel": DELETE}, False),
        ({"stale": "no"}, False),
        ({"pii": "erased"}, False),
        ({"source.channel": "operator"}, False),
        ({"stale": True}, True),
        ({"source.channel": "reconcile"}, True),
        ({"protected": "eyJhbGciOiJkaXIifQ..aXY.Y3Q.dGFn"}, False),
    ],
    ids=str,
)
@pytest.mark.parametrize(("name", "path"), FIRST_CLEAR, ids=[n for n, _ in FIRST_CLEAR])
def test_v2_envelope_members(
    name: str, path: Path, change: dict[str, JSONValue], valid: bool
) -> None:
    """pii, stale, source.channel are required and typed; protected only when encrypted."""
    assert (valid, valid) == _verdicts(name, _changed(path, change))


DEAD = V2 / "kyc.dead_letter" / "2"
SEALED = DEAD / "invalid_json.encrypted.json"
AS_RECEIVED = DEAD / "invalid_json.clear.json"
BODYLESS = DEAD / "dead_letter_too_large.clear.json"
BODY_SEALED = _dig(_read(SEALED), "data.body_sealed")


@pytest.mark.parametrize(
    ("path", "change", "valid"),
    [
        (AS_RECEIVED, {}, True),
        (SEALED, {}, True),
        (BODYLESS, {}, True),
        (BODYLESS, {"pii": "redacted"}, True),
        (AS_RECEIVED, {"data.body_sealed": BODY_SEALED}, False),
        (AS_RECEIVED, {"pii": "encrypted"}, False),
        (AS_RECEIVED, {"pii": "redacted"}, False),
        (SEALED, {"data.body_sealed": DELETE}, False),
        (SEALED, {"data.body_b64": "e30="}, False),
        (SEALED, {"pii": "clear"}, False),
        (SEALED, {"data.body_sealed.kid": DELETE}, False),
        (SEALED, {"data.body_sealed.extra": "x"}, False),
        (SEALED, {"protected": _dig(BODY_SEALED, "protected")}, False),
        (AS_RECEIVED, {"stale": True}, False),
        (AS_RECEIVED, {"raw": {}}, False),
    ],
    ids=lambda v: v.stem if isinstance(v, Path) else str(v),
)
def test_dead_letter_v2_variants(path: Path, change: dict[str, JSONValue], valid: bool) -> None:
    """body_b64 (pii clear) or body_sealed (pii encrypted) or neither; never both."""
    assert (valid, valid) == _verdicts("kyc.dead_letter.v2", _changed(path, change))


async def test_inline_sealed_body_matches_the_schema() -> None:
    """What seal_inline returns is exactly the body_sealed shape the dead letter schema takes."""
    kek = JwksFileKek(make_examples_v2.EXAMPLE_KEK_JWKS)
    sealed = await seal_inline(b"{}", kek, event_id=str(_read(SEALED)["event_id"]))
    shape = _dig(REGISTRY.schema("kyc.dead_letter.v2"), "$defs.inline_sealed.required")
    assert sorted(InlineSealed.__annotations__) == _names(shape)
    body_sealed: JSONObject = {key: str(value) for key, value in sealed.items()}
    document = _changed(SEALED, {"data.body_sealed": body_sealed})
    assert (True, True) == _verdicts("kyc.dead_letter.v2", document)


ERASED = V2 / "kyc.erased" / "1" / "argos_delete.json"
OPERATOR = V2 / "kyc.erased" / "1" / "operator.json"


@pytest.mark.parametrize(
    ("path", "change", "valid"),
    [
        (ERASED, {"raw": {}}, False),
        (ERASED, {"trigger": "delete"}, False),
        (ERASED, {"pii": "encrypted"}, False),
        (ERASED, {"data.email": "x"}, False),
        (ERASED, {"data.key_ids": DELETE}, False),
        (ERASED, {"data.reason": "gdpr"}, False),
        (ERASED, {"data.delete_event_id": DELETE}, True),
        (ERASED, {"subject": DELETE}, False),
        (ERASED, {"source.channel": "operator"}, False),
        (OPERATOR, {"source.channel": "webhook"}, False),
        (OPERATOR, {"data.erased_at": "2025-06-30 12:00:00"}, False),
    ],
    ids=lambda v: v.stem if isinstance(v, Path) else str(v),
)
def test_erased_event_rules(path: Path, change: dict[str, JSONValue], valid: bool) -> None:
    """kyc.erased: clear, no raw or trigger, closed data, the operator channel for operators."""
    assert (valid, valid) == _verdicts("kyc.erased.v1", _changed(path, change))


STATE = V2 / "kyc.state" / "1" / "approved_webhook.json"


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        ({"status": None, "status_time": None}, True),
        ({"email": "x"}, False),
        ({"channel": "operator"}, False),
        ({"status_time": "2025-04-02T16:45:10+00:00"}, False),
        ({"schema": "kyc.state.v2"}, False),
        ({"event_id": DELETE}, False),
        ({"project": None}, False),
    ],
    ids=str,
)
def test_state_value_rules(change: dict[str, JSONValue], valid: bool) -> None:
    """kyc.state.v1 is a closed object with nullable status and status_time."""
    assert (valid, valid) == _verdicts("kyc.state.v1", _changed(STATE, change))


async def test_key_records_match_the_schema() -> None:
    """bridge.pii.keys writes exactly the members kyc.pii_key.v1 requires, and they validate."""
    kek = JwksFileKek(make_examples_v2.EXAMPLE_KEK_JWKS)
    dek = new_data_key("token:tok_Zp3Lw8Qn1Vr6")
    _, value = key_record(dek, await kek.wrap(dek), created_at=datetime.now(UTC))
    record: JSONObject = orjson.loads(value)
    required = _dig(REGISTRY.schema("kyc.pii_key.v1"), "required")
    assert sorted(f.name for f in fields(KeyRecord)) == _names(required)
    assert (True, True) == _verdicts("kyc.pii_key.v1", record)
    assert (False, False) == _verdicts("kyc.pii_key.v1", {**record, "wrapped_key": "a.b.c"})


# --------------------------------------------------------------------------- compat


@pytest.fixture(name="schemas_copy")
def _schemas_copy(tmp_path: Path) -> Path:
    """A throwaway copy of schemas/ (with its lock) to break on purpose."""
    target = tmp_path / "schemas"
    shutil.copytree(DEFAULT_DIRECTORY, target, ignore=shutil.ignore_patterns("examples"))
    return target


def _edit(directory: Path, name: str, change: str) -> None:
    path = directory / f"{name}{SCHEMA_SUFFIX}"
    schema = orjson.loads(path.read_bytes())  # Any: edited freely below
    data = schema["properties"]["data"]
    if change == "remove-property":
        del data["properties"]["status"]
    elif change == "add-property":
        data["properties"]["risk_score"] = {"type": ["number", "null"]}
    elif change == "add-required":
        schema["required"] = [*schema["required"], "subject"]
    path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2))


def test_published_schemas_match_their_lock(capsys: pytest.CaptureFixture[str]) -> None:
    """The repository's schemas pass the compatibility check against schemas/published/."""
    assert 0 == compat.main([])
    assert "match their lock" in capsys.readouterr().out


def test_compat_script_runs_as_a_command() -> None:
    """`python scripts/schema_compat.py` exits 0 on the repository (what CI runs)."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, check=False
    )
    assert (0, "") == (result.returncode, result.stderr)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("remove-property", "properties/status: property removed"),
        ("add-required", "'subject' newly required"),
    ],
)
def test_breaking_change_fails(
    schemas_copy: Path, capsys: pytest.CaptureFixture[str], change: str, message: str
) -> None:
    """Removing a property or requiring a new one fails, says why; --update refuses."""
    _edit(schemas_copy, "kyc.approved.v1", change)
    assert 1 == compat.main(["--schemas-dir", str(schemas_copy)])
    err = capsys.readouterr().err
    assert "BREAKING kyc.approved.v1" in err
    assert message in err
    assert 1 == compat.main(["--schemas-dir", str(schemas_copy), "--update"])


def test_compatible_change_passes_and_asks_for_update(
    schemas_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new optional property passes, prints an --update reminder; --update makes it clean."""
    _edit(schemas_copy, "kyc.approved.v1", "add-property")
    assert 0 == compat.main(["--schemas-dir", str(schemas_copy)])
    assert "--update" in capsys.readouterr().out
    assert 0 == compat.main(["--schemas-dir", str(schemas_copy), "--update"])
    assert 0 == compat.main(["--schemas-dir", str(schemas_copy)])
    assert "match their lock" in capsys.readouterr().out


def test_new_version_must_be_locked(schemas_copy: Path) -> None:
    """Publishing v3 (file + index entry) fails until --update writes its lock."""
    v3 = _read(schemas_copy / "kyc.approved.v1.schema.json")
    v3["$id"] = schema_uri("kyc.approved.v3")
    (schemas_copy / "kyc.approved.v3.schema.json").write_bytes(orjson.dumps(v3))
    index = orjson.loads((schemas_copy / "index.json").read_bytes())
    entry = {"name": "kyc.approved.v3", "version": 3, "status": "published"}
    index["schemas"] = [*index["schemas"], entry]
    (schemas_copy / "index.json").write_bytes(orjson.dumps(index))
    assert 1 == compat.main(["--schemas-dir", str(schemas_copy)])
    assert 0 == compat.main(["--schemas-dir", str(schemas_copy), "--update"])
    assert (schemas_copy / "published" / "kyc.approved.v3.schema.json").is_file()
    assert 0 == compat.main(["--schemas-dir", str(schemas_copy)])


@pytest.mark.parametrize(
    ("pointer", "mark", "code", "message"),
    [
        (
            ("properties", "email"),
            False,
            1,
            "properties/email/x-kyc-pii: personal-data marking removed",
        ),
        (
            ("$defs", "custom_fields"),
            False,
            1,
            "custom_fields/x-kyc-pii: personal-data marking removed",
        ),
        (
            ("properties", "status"),
            True,
            0,
            "properties/status/x-kyc-pii: personal-data marking added",
        ),
    ],
)
def test_pii_marking_may_be_added_but_never_removed(
    schemas_copy: Path,
    capsys: pytest.CaptureFixture[str],
    pointer: tuple[str, str],
    mark: bool,
    code: int,
    message: str,
) -> None:
    """Adding `x-kyc-pii` is compatible (an annotation); removing it is breaking."""
    path = schemas_copy / "argos.fields.v1.schema.json"
    schema = orjson.loads(path.read_bytes())
    target = schema[pointer[0]][pointer[1]]
    if mark:
        target["x-kyc-pii"] = True
    else:
        del target["x-kyc-pii"]
    path.write_bytes(orjson.dumps(schema))
    assert code == compat.main(["--schemas-dir", str(schemas_copy)])
    assert message in "".join(capsys.readouterr())


def test_removing_a_published_schema_is_breaking(schemas_copy: Path) -> None:
    """Deleting a published schema file (still locked) fails the check."""
    (schemas_copy / "kyc.retry.v1.schema.json").unlink()
    assert 1 == compat.main(["--schemas-dir", str(schemas_copy)])


@pytest.mark.parametrize(
    ("old", "new", "breaking"),
    [
        ({"type": "string"}, {"type": ["string", "null"]}, True),
        ({"enum": ["a", "b"]}, {"enum": ["a"]}, True),
        ({"enum": ["a"]}, {"enum": ["a", "b"]}, False),
        ({"type": "object"}, {"type": "object", "additionalProperties": False}, True),
        ({"additionalProperties": {"type": "string"}}, {"additionalProperties": False}, True),
        ({"additionalProperties": False}, {}, False),
        ({"const": 1}, {"const": 2}, True),
        ({"pattern": "^a"}, {"pattern": "^b"}, True),
        ({"$ref": "urn:a"}, {"$ref": "urn:b"}, True),
        ({"description": "a"}, {"description": "b"}, False),
        ({"$defs": {"x": {}}}, {"$defs": {}}, True),
        ({"$defs": {}}, {"$defs": {"x": {}}}, False),
        ({"allOf": [{"type": "string"}]}, {"allOf": [{"type": "number"}]}, True),
        ({"items": {"type": "string"}}, {"items": {"type": "string", "title": "t"}}, False),
        ({"required": ["a"]}, {"required": []}, True),
        ({"x-kyc-pii": True}, {}, True),
        ({"x-kyc-pii": True}, {"x-kyc-pii": False}, True),
        ({}, {"x-kyc-pii": True}, False),
        ({"$ref": "#/$defs/text"}, {"$ref": "#/$defs/text", "x-kyc-pii": True}, False),
    ],
)
def test_compare_classifies_changes(old: JSONObject, new: JSONObject, breaking: bool) -> None:
    """Changed types, narrowed enums, tightened keywords are breaking; additions are not."""
    report = compat.Report()
    compat.compare(old, new, "s", report)
    assert breaking == bool(report.breaking)
    assert report.breaking or report.compatible
