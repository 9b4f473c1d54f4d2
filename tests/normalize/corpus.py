"""The ARGOS fixture corpus (`tests/fixtures/argos/*.json`) and helpers to compare with it."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import orjson

from bridge.types import JSONObject, JSONValue

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "argos"


class Expect(TypedDict, total=False):
    """What a fixture promises about its normalized event."""

    event_type: str
    key: str
    occurred_at: str | None
    data: JSONObject
    absent: list[str]
    warnings: list[str]


class Fixture(TypedDict):
    """One `tests/fixtures/argos/<name>.json` file."""

    description: str
    payload: JSONObject
    expect: Expect


def fixture_names() -> list[str]:
    """Every fixture name (file stem), sorted."""
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def load_fixture(name: str) -> Fixture:
    """Load one fixture file."""
    document: Fixture = orjson.loads((FIXTURES / f"{name}.json").read_bytes())
    return document


def subset_mismatches(expected: JSONValue, actual: JSONValue, path: str = "data") -> list[str]:
    """Return the paths where `expected` (objects compared as subsets) differs from `actual`."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [path]
        return [
            mismatch
            for key, value in expected.items()
            for mismatch in (
                subset_mismatches(value, actual[key], f"{path}.{key}")
                if key in actual
                else [f"{path}.{key} (absent)"]
            )
        ]
    return [] if expected == actual else [path]
