"""
Check that no published event schema changed in a breaking way.

    python scripts/schema_compat.py                    # compare with the lock
    python scripts/schema_compat.py --update           # refresh the lock (never on breaking)
    python scripts/schema_compat.py --schemas-dir DIR  # another schemas/ directory

Every schema listed in `schemas/index.json` with status "published" has a lock copy,
`schemas/published/<name>.schema.json`. Compared with its lock, a schema may only
change compatibly:

- breaking (exit 1): the schema or a property/definition removed; a property newly
  required or no longer required; `type` changed; enum values removed; `const`,
  `$ref`, `pattern`, `format`, a bound or any other validation keyword changed;
  `additionalProperties` / `items` / `unevaluated*` tightened (absent or true -> false
  or a schema); the personal-data marking `"x-kyc-pii": true` removed from a property
  or definition (encryption, redaction, the log redactor and consumers rely on it);
  a published schema that has no lock yet (run --update once);
- compatible (exit 0, and a reminder to run --update): optional properties or
  definitions added, enum values added, keywords loosened, titles/descriptions edited,
  `"x-kyc-pii": true` added (an annotation: it validates nothing).

To publish a new version: add `<event>.v<N+1>.schema.json`, list it in index.json
with status "published" and an examples directory, then run with --update.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PII_MARK", "Report", "check", "compare", "main", "published_names"]

DEFAULT_DIRECTORY = Path(__file__).resolve().parent.parent / "schemas"
LOCK_DIRECTORY = "published"
SUFFIX = ".schema.json"

_ANNOTATIONS = frozenset(
    {"title", "description", "examples", "$comment", "default", "deprecated", "readOnly"}
    | {"writeOnly", "contentMediaType"}
)
_SCHEMA_MAPS = frozenset({"properties", "$defs", "patternProperties", "dependentSchemas"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_OPEN_BY_DEFAULT = frozenset(
    {"additionalProperties", "unevaluatedProperties", "items", "unevaluatedItems"}
)
_SUBSCHEMAS = frozenset({"contains", "not", "if", "then", "else", "propertyNames"})
PII_MARK = "x-kyc-pii"  # the personal-data annotation (bridge.pii.paths reads it)


@dataclass
class Report:
    """What changed: breaking and unlocked fail the check, compatible ones need --update."""

    breaking: list[str] = field(default_factory=list)
    compatible: list[str] = field(default_factory=list)
    unlocked: list[str] = field(default_factory=list)  # published, no lock copy yet


def _types(value: object) -> set[str]:
    if isinstance(value, str):
        return {value}
    return {str(v) for v in value} if isinstance(value, list) else set()


def _at(pointer: str, *parts: object) -> str:
    return "/".join([pointer, *(str(p) for p in parts)])


def compare(old: object, new: object, where: str, report: Report) -> None:
    """Record in `report` how schema `new` differs from `old` (`where` prefixes messages)."""
    if old == new:
        return
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        tightened = new is False or (old is True and isinstance(new, Mapping))
        (report.breaking if tightened else report.compatible).append(f"{where}: schema changed")
        return
    for key in sorted(set(old) | set(new)):
        was, now = old.get(key), new.get(key)
        if was == now:
            continue
        path = _at(where, key)
        if key in _ANNOTATIONS:
            report.compatible.append(f"{path}: annotation changed")
        elif key == PII_MARK:
            _compare_pii_mark(was, now, path, report)
        elif key in _SCHEMA_MAPS:
            _compare_maps(was, now, path, report, noun="property" if key == "properties" else key)
        elif key in _SCHEMA_LISTS:
            _compare_lists(was, now, path, report)
        elif key == "required":
            _compare_required(was, now, path, report)
        elif key == "type":
            report.breaking.append(f"{path}: type changed from {was!r} to {now!r}")
        elif key == "enum":
            _compare_enum(was, now, path, report)
        elif key in _OPEN_BY_DEFAULT:
            _compare_open(was, now, path, report)
        elif key in _SUBSCHEMAS and was is not None and now is not None:
            compare(was, now, path, report)
        else:
            report.breaking.append(f"{path}: changed from {was!r} to {now!r}")


def _compare_maps(was: object, now: object, path: str, report: Report, *, noun: str) -> None:
    before = was if isinstance(was, Mapping) else {}
    after = now if isinstance(now, Mapping) else {}
    for name in sorted(set(before) - set(after)):
        report.breaking.append(f"{_at(path, name)}: {noun} removed")
    for name in sorted(set(after) - set(before)):
        report.compatible.append(f"{_at(path, name)}: {noun} added")
    for name in sorted(set(before) & set(after)):
        compare(before[name], after[name], _at(path, name), report)


def _compare_pii_mark(was: object, now: object, path: str, report: Report) -> None:
    if was is True and now is not True:
        report.breaking.append(f"{path}: personal-data marking removed")
    elif now is True:
        report.compatible.append(f"{path}: personal-data marking added")
    else:
        report.compatible.append(f"{path}: annotation changed")


def _compare_lists(was: object, now: object, path: str, report: Report) -> None:
    before = was if isinstance(was, list) else []
    after = now if isinstance(now, list) else []
    if len(before) != len(after):
        report.breaking.append(f"{path}: {len(before)} subschemas became {len(after)}")
        return
    for index, (old, new) in enumerate(zip(before, after, strict=True)):
        compare(old, new, _at(path, index), report)


def _compare_required(was: object, now: object, path: str, report: Report) -> None:
    before, after = _types(was), _types(now)
    for name in sorted(after - before):
        report.breaking.append(f"{path}: {name!r} newly required")
    for name in sorted(before - after):
        report.breaking.append(f"{path}: {name!r} no longer required")


def _compare_enum(was: object, now: object, path: str, report: Report) -> None:
    after = now if isinstance(now, list) else []
    if now is None:
        report.compatible.append(f"{path}: enum removed (any value allowed)")
    elif not isinstance(was, list):
        report.breaking.append(f"{path}: enum added (values narrowed)")
    elif removed := [v for v in was if v not in after]:
        report.breaking.append(f"{path}: enum narrowed (no longer allows {removed!r})")
    else:
        report.compatible.append(f"{path}: enum values added")


def _compare_open(was: object, now: object, path: str, report: Report) -> None:
    if isinstance(was, Mapping) and isinstance(now, Mapping):
        compare(was, now, path, report)
    elif was in (None, True) or now is False:
        report.breaking.append(f"{path}: tightened from {was!r} to {now!r}")
    else:
        report.compatible.append(f"{path}: loosened")


def _load(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def published_names(directory: Path) -> list[str]:
    """Return the names of the schemas `index.json` lists as published."""
    index = _load(directory / "index.json")
    entries = index.get("schemas", []) if isinstance(index, dict) else []
    return sorted(
        str(e["name"]) for e in entries if isinstance(e, dict) and e.get("status") == "published"
    )


def check(directory: Path) -> Report:
    """Compare every published schema in `directory` with its lock copy."""
    report = Report()
    names = published_names(directory)
    locks = directory / LOCK_DIRECTORY
    for lock in sorted(locks.glob(f"*{SUFFIX}")):
        name = lock.name.removesuffix(SUFFIX)
        if name not in names:
            report.breaking.append(f"{name}: published schema removed (or no longer published)")
    for name in names:
        current, lock = directory / f"{name}{SUFFIX}", locks / f"{name}{SUFFIX}"
        if not current.is_file():
            report.breaking.append(f"{name}: listed as published but {current.name} is missing")
        elif not lock.is_file():
            report.unlocked.append(f"{name}: published but not locked yet; run with --update")
        else:
            compare(_load(lock), _load(current), name, report)
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the check (or --update); return the exit code."""
    parser = argparse.ArgumentParser(description="Fail on breaking changes to published schemas.")
    parser.add_argument("--schemas-dir", type=Path, default=DEFAULT_DIRECTORY)
    parser.add_argument("--update", action="store_true", help="refresh the lock copies")
    args = parser.parse_args(argv)
    directory: Path = args.schemas_dir
    report = check(directory)
    for line in report.breaking:
        print(f"BREAKING {line}", file=sys.stderr)
    if report.breaking:
        print(
            "\nA published schema must not change in a breaking way: revert it, or add a new "
            "version (<event>.v<N+1>.schema.json), list it in index.json, and run --update.",
            file=sys.stderr,
        )
        return 1
    if args.update:
        (directory / LOCK_DIRECTORY).mkdir(exist_ok=True)
        for name in published_names(directory):
            shutil.copyfile(
                directory / f"{name}{SUFFIX}", directory / LOCK_DIRECTORY / f"{name}{SUFFIX}"
            )
        print(f"lock refreshed: {len(published_names(directory))} published schemas")
        return 0
    for line in report.unlocked:
        print(f"UNLOCKED {line}", file=sys.stderr)
    for line in report.compatible:
        print(f"changed  {line}")
    if report.unlocked:
        return 1
    if report.compatible:
        print(
            "\ncompatible changes only; refresh the lock: python scripts/schema_compat.py --update"
        )
    else:
        print(f"ok: {len(published_names(directory))} published schemas match their lock")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
