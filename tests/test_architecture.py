"""The README's package table is the architecture: it names every part, in import order."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BRIDGE = REPO / "bridge"
UNLISTED = {"__init__", "__main__", "types", "_schemas"}  # entry point, shared aliases, data


def _table_rows() -> list[set[str]]:
    """The parts (`commands`, `events`, ...) each row of the README's table names, top first."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("| Package / module | Concern |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("| `bridge/"):
            break
        first_cell = line.split("|")[1]
        rows.append(set(re.findall(r"`bridge/(\w+)", first_cell)))
    return rows


def _parts() -> set[str]:
    return {
        path.stem if path.is_file() else path.name
        for path in BRIDGE.iterdir()
        if (path.suffix == ".py" or (path / "__init__.py").is_file())
    } - UNLISTED


def _imports(part: str) -> set[str]:
    """The other parts of the bridge that `part` imports (at any depth of its folder)."""
    path = BRIDGE / part
    files = sorted(path.rglob("*.py")) if path.is_dir() else [BRIDGE / f"{part}.py"]
    found = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            found |= {n.split(".")[1] for n in names if n.startswith("bridge.") and "." in n}
    return found - {part}


def test_the_table_names_every_package_and_module_once() -> None:
    """Each package and top-level module of bridge/ is in exactly one row of the table."""
    rows = _table_rows()
    listed = [part for row in rows for part in row]
    assert sorted(listed) == sorted(set(listed)), "a part is listed twice"
    assert _parts() == set(listed)


def test_lower_rows_never_import_higher_ones() -> None:
    """The README's promise: a part imports only parts in its own row or below it."""
    rows = _table_rows()
    row_of = {part: index for index, row in enumerate(rows) for part in row}
    upward = {
        (part, other)
        for part, index in row_of.items()
        for other in _imports(part)
        if other in row_of and row_of[other] < index
    }
    assert set() == upward
