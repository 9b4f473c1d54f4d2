"""
Which keys are personal, read from the one source of truth: the `x-kyc-pii`
marking in the schemas. The encryption splits `data` along it (`paths`); the
log redactor redacts every key it names here: the marked property names and
every ARGOS spelling the normalizer maps onto one of them (`fullName`,
`ipAddress`, `cf1`, ...), so a raw payload key is redacted as surely as its
canonical name. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from bridge.normalize import TRIGGERS, UNKNOWN
from bridge.normalize.fields import SUBMISSION
from bridge.normalize.rules import Group, Items, Table
from bridge.pii.paths import PII_MARK
from bridge.types import JSONObject, JSONValue

__all__ = ["normalized_key", "personal_keys"]


def normalized_key(key: str) -> str:
    """The form keys are compared in: lowercase, without `_` and `-`."""
    return key.replace("_", "").replace("-", "").lower()


def _marked(value: JSONValue) -> Iterator[str]:
    if isinstance(value, dict):
        properties = value.get("properties")
        if isinstance(properties, dict):
            for name, schema in properties.items():
                if isinstance(schema, dict) and schema.get(PII_MARK) is True:
                    yield name
        for item in value.values():
            yield from _marked(item)
    elif isinstance(value, list):
        for item in value:
            yield from _marked(item)


def _spellings(table: Table, marked: frozenset[str], inside: bool) -> Iterator[str]:
    for source, rule in table.items():
        personal = inside or any(normalized_key(part) in marked for part in rule.target)
        if personal:
            yield source
        if isinstance(rule.kind, Group | Items):
            yield from _spellings(rule.kind.table, marked, personal)


def personal_keys(documents: Iterable[JSONObject]) -> frozenset[str]:
    """Return the normalized keys of every marked property and of its ARGOS spellings."""
    marked = frozenset(normalized_key(name) for doc in documents for name in _marked(doc))
    tables = [SUBMISSION, *(t.table for t in (*TRIGGERS.values(), UNKNOWN) if t.table)]
    spellings = {normalized_key(s) for table in tables for s in _spellings(table, marked, False)}
    return marked | spellings
