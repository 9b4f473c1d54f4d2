"""
The vocabulary of the field tables: rules, value kinds, warnings and paths.

A table maps every spelling of a source key to a `Rule`: where the value goes
(a path relative to the object being built) and what kind of value it must be.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import NoneType
from typing import Literal, TypeAlias

from bridge.types import JSONObject

__all__ = [
    "FieldWarning",
    "Group",
    "Items",
    "Kind",
    "Path",
    "Rule",
    "Table",
    "WarningCode",
    "render_path",
]

Kind = Literal["text", "integer", "timestamp", "date", "any", "text_list"]
WarningCode = Literal[
    "unparsed_timestamp",  # kept as given: not a timestamp we can read
    "unparsed_date",  # kept as given: not YYYY-MM-DD
    "unexpected_type",  # moved to data.extra as given: not the documented JSON type
    "conflicting_value",  # moved to data.extra as given: two aliases, two different values
    "missing_trigger",  # no string webhook_trigger: published as kyc.unknown
]
Path: TypeAlias = tuple[str | int, ...]
Table: TypeAlias = Mapping[str, "Rule"]

_AS_IS: Mapping[Kind, frozenset[type]] = {
    "text": frozenset({str, NoneType}),
    "integer": frozenset({int, NoneType}),  # not bool: type(True) is bool
    "any": frozenset({dict, list, str, int, float, bool, NoneType}),
    "timestamp": frozenset({NoneType}),
    "date": frozenset({NoneType}),
    "text_list": frozenset({NoneType}),
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


@dataclass(frozen=True, slots=True)
class Group:
    """A source object whose keys `table` maps; `scalar` reads a non-object value."""

    table: Table
    scalar: Rule | None = None


@dataclass(frozen=True, slots=True)
class Items:
    """A source array of objects, each mapped by `table` into a new object."""

    table: Table
    keep_unknown: bool = False  # unmapped keys stay in the item instead of going to extra
    wrap_object: bool = False  # a single object counts as a one-element array


@dataclass(frozen=True, slots=True)
class Rule:
    """Where a source value goes (relative path) and what it must be."""

    target: tuple[str, ...]
    kind: Kind | Group | Items
    as_is: frozenset[type] = field(init=False, repr=False, compare=False)
    """Value types stored unchanged at a free one-key target: no check, parse or nesting."""

    def __post_init__(self) -> None:
        flat = len(self.target) == 1
        as_is = _AS_IS[self.kind] if flat and isinstance(self.kind, str) else frozenset()
        object.__setattr__(self, "as_is", as_is)


@dataclass(frozen=True, slots=True)
class FieldWarning:
    """A value kept as given; `path` names where it is, the value is never included."""

    path: str
    code: WarningCode

    def as_json(self) -> JSONObject:
        """Return the envelope form `{"path": ..., "code": ...}`."""
        return {"path": self.path, "code": self.code}

    def __str__(self) -> str:
        return f"{self.code}:{self.path}"


def render_path(root: str, path: Path) -> str:
    """Render `path` below `root` as `root.key[0]["odd key"]`."""
    parts = [root]
    for segment in path:
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
        elif _IDENTIFIER.fullmatch(segment):
            parts.append(f".{segment}")
        else:
            escaped = segment.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'["{escaped}"]')
    return "".join(parts)
