"""Schemas as data: lint, index, examples, registry behaviour and the compatibility check."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import orjson
import pytest
from jsonschema import Draft202012Validator

from bridge.errors import ConfigError, SchemaValidationError
from bridge.normalize import TRIGGERS, UNKNOWN
from bridge.schemas import (
    SCHEMA_SUFFIX,
    SchemaRegistry,
    load_registry,
    schema_uri,
)
from bridge.types import JSONObject
from tests.fixtures import make_examples

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIRECTORY = ROOT / "schemas"  # the source of truth the package ships
SCRIPT = ROOT / "scripts" / "schema_compat.py"
INDEX = orjson.loads((DEFAULT_DIRECTORY / "index.json").read_bytes())
SCHEMA_FILES = sorted(DEFAULT_DIRECTORY.glob(f"*{SCHEMA_SUFFIX}"))
EVENT_ENTRIES = [e for e in INDEX["schemas"] if e["kind"] == "event"]
EXAMPLES = sorted(
    (entry["name"], path)
    for entry in EVENT_ENTRIES
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
        assert f"{entry['name']}{SCHEMA_SUFFIX}" == entry["resource"]
        assert entry["name"].endswith(f".v{entry['version']}")


def test_every_event_type_has_a_schema_and_examples() -> None:
    """Each trigger's event type, kyc.unknown and kyc.dead_letter have a v1 schema + examples."""
    event_types = {t.event_type for t in TRIGGERS.values()} | {UNKNOWN.event_type}
    event_types.add("kyc.dead_letter")
    assert event_types == {entry["event_type"] for entry in EVENT_ENTRIES}
    for entry in EVENT_ENTRIES:
        assert f"examples/{entry['event_type']}/{entry['version']}/" == entry["examples"]
        assert list((DEFAULT_DIRECTORY / entry["examples"]).glob("*.json")), entry["name"]


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize(("name", "path"), EXAMPLES, ids=[p.stem for _, p in EXAMPLES])
def test_example_validates(name: str, path: Path) -> None:
    """Every example envelope validates against the schema whose examples dir holds it."""
    example = _read(path)
    assert name == example["schema"]
    load_registry().validate(name, example)


def test_examples_are_current() -> None:
    """The committed examples are exactly what the fixtures produce today."""
    committed = {p: p.read_bytes() for p in make_examples.EXAMPLES.glob("*/*/*.json")}
    assert make_examples.expected_files() == committed


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
    """Publishing v2 (file + index entry) fails until --update writes its lock."""
    v2 = _read(schemas_copy / "kyc.approved.v1.schema.json")
    v2["$id"] = schema_uri("kyc.approved.v2")
    (schemas_copy / "kyc.approved.v2.schema.json").write_bytes(orjson.dumps(v2))
    index = orjson.loads((schemas_copy / "index.json").read_bytes())
    entry = {"name": "kyc.approved.v2", "version": 2, "status": "published"}
    index["schemas"] = [*index["schemas"], entry]
    (schemas_copy / "index.json").write_bytes(orjson.dumps(index))
    assert 1 == compat.main(["--schemas-dir", str(schemas_copy)])
    assert 0 == compat.main(["--schemas-dir", str(schemas_copy), "--update"])
    assert (schemas_copy / "published" / "kyc.approved.v2.schema.json").is_file()
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
