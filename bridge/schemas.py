"""
The schema registry: every `schemas/<name>.schema.json`, compiled once, validated offline.

A schema's name is its file name without `.schema.json` (`kyc.approved.v1`),
and its `$id` is `urn:kyc-bridge:schema:<name>`, which is also the CloudEvents
`ce_dataschema` of the events it describes. `$ref`s between schemas resolve
through in-memory registries; nothing is fetched.

Two validators per schema: jsonschema-rs (compiled Rust, ~50x faster) answers
"valid?" on the hot path; the reference `jsonschema` implementation checks the
schemas themselves and explains a failure (rare) with paths and keywords.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import jsonschema_rs
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from referencing.jsonschema import SchemaRegistry as _ReferenceRegistry

from bridge.errors import ConfigError, SchemaValidationError
from bridge.types import JSONObject

__all__ = [
    "SCHEMA_SUFFIX",
    "SCHEMA_URI_PREFIX",
    "SchemaRegistry",
    "load_registry",
    "schema_uri",
]

SCHEMA_URI_PREFIX = "urn:kyc-bridge:schema:"
SCHEMA_SUFFIX = ".schema.json"
_PACKAGED = "_schemas"  # package data: the repository's schemas/, shipped in the wheel
_MAX_REPORTED = 5


def schema_uri(name: str) -> str:
    """Return the `$id` (and `ce_dataschema`) of the schema called `name`."""
    return SCHEMA_URI_PREFIX + name


class SchemaRegistry:
    """Draft 2020-12 validators by schema name, compiled once; read-only after init."""

    def __init__(self, schemas: Mapping[str, JSONObject]) -> None:
        """
        Check and compile `schemas` (name -> schema document).

        Raises:
            ConfigError: a schema is not valid draft 2020-12, or its `$id` does not
                match its name.
        """
        for name, schema in schemas.items():
            if schema.get("$id") != schema_uri(name):
                raise ConfigError(f"schema {name}: $id must be {schema_uri(name)!r}")
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                where = "/".join(str(p) for p in exc.absolute_path)
                raise ConfigError(f"schema {name}: invalid at /{where} ({exc.validator})") from None
        references: _ReferenceRegistry = (
            Registry()
            .with_resources(
                (schema_uri(name), DRAFT202012.create_resource(schema))
                for name, schema in schemas.items()
            )
            .crawl()
        )
        self._schemas = dict(schemas)
        self._validators = {
            name: Draft202012Validator(schema, registry=references)
            for name, schema in schemas.items()
        }
        fast_registry = jsonschema_rs.Registry(
            [(schema_uri(name), schema) for name, schema in schemas.items()]
        )
        self._fast = {
            name: jsonschema_rs.Draft202012Validator(schema, registry=fast_registry)
            for name, schema in schemas.items()
        }

    @property
    def names(self) -> tuple[str, ...]:
        """Every schema name, sorted."""
        return tuple(sorted(self._schemas))

    def __contains__(self, name: object) -> bool:
        return name in self._schemas

    def schema(self, name: str) -> JSONObject:
        """
        Return the schema document called `name`.

        Raises:
            KeyError: no such schema.
        """
        return self._schemas[name]

    def validate(self, schema_id: str, instance: JSONObject) -> None:
        """
        Validate `instance` against the schema named `schema_id` (or its `$id`).

        Raises:
            SchemaValidationError: no such schema, or the instance does not match.
                The message names JSON paths and schema keywords only, never values.
        """
        name = schema_id.removeprefix(SCHEMA_URI_PREFIX)
        fast = self._fast.get(name)
        if fast is None:
            raise SchemaValidationError(f"no schema named {name!r} is registered")
        if fast.is_valid(instance):
            return
        errors: list[ValidationError] = list(self._validators[name].iter_errors(instance))
        if errors:
            found = sorted({f"{e.json_path} ({e.validator})" for e in errors})
            more = f"; and {len(found) - _MAX_REPORTED} more" if len(found) > _MAX_REPORTED else ""
            raise SchemaValidationError(
                f"event does not match schema {name}: {'; '.join(found[:_MAX_REPORTED])}{more}"
            )


def _documents(files: Iterable[Traversable], where: str) -> dict[str, JSONObject]:
    schemas: dict[str, JSONObject] = {}
    try:
        for item in sorted(files, key=lambda f: f.name):
            if not item.name.endswith(SCHEMA_SUFFIX):
                continue
            document = orjson.loads(item.read_bytes())
            if not isinstance(document, dict):
                raise ConfigError(f"schema file {item.name} in {where}: not a JSON object")
            schemas[item.name.removesuffix(SCHEMA_SUFFIX)] = document
    except OSError as exc:
        raise ConfigError(f"schemas: cannot read {where}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"schemas: invalid JSON in {where}: {exc}") from None
    if not schemas:
        raise ConfigError(f"schemas: no *{SCHEMA_SUFFIX} files in {where}")
    return schemas


def load_registry(directory: Path | None = None) -> SchemaRegistry:
    """
    Load and compile every `*.schema.json` directly in `directory`; by default the
    schemas shipped inside the package (loaded with `importlib.resources`).

    Raises:
        ConfigError: the directory or a schema file cannot be read or is invalid.
    """
    if directory is not None:
        if not directory.is_dir():
            raise ConfigError(f"schemas: {directory} is not a directory")
        return SchemaRegistry(_documents(directory.iterdir(), str(directory)))
    return _packaged()


@functools.cache
def _packaged() -> SchemaRegistry:
    """The packaged schemas, compiled once per process (read-only afterwards)."""
    packaged = resources.files("bridge") / _PACKAGED
    return SchemaRegistry(_documents(packaged.iterdir(), "the installed package"))
