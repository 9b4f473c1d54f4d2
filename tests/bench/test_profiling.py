"""bench/profiling.py: py-spy's collapsed stacks to self/inclusive shares and a table."""

from __future__ import annotations

from pathlib import Path

from bench.profiling import summarize_profile, write_profile_table

STACKS = (
    "run (bridge/ingress/app.py:10);handle (bridge/ingress/webhooks.py:20) 3\n"
    "run (bridge/ingress/app.py:10);dumps (orjson/__init__.py:5) 1\n"
    "garbage without a count\n"
)


def test_summary_gives_self_and_inclusive_shares(tmp_path: Path) -> None:
    """Self time goes to the leaf frame, inclusive time to every frame on the stack."""
    stacks = tmp_path / "stacks.txt"
    stacks.write_text(STACKS)
    summary = summarize_profile(stacks)
    assert 4 == summary["samples"]
    assert [
        ["handle (bridge/ingress/webhooks.py)", 75.0],
        ["dumps (orjson/__init__.py)", 25.0],
    ] == summary["self_pct"]
    inclusive, modules = summary["inclusive_pct"], summary["self_by_module_pct"]
    assert isinstance(inclusive, list)
    assert isinstance(modules, list)
    assert ["run (bridge/ingress/app.py)", 100.0] == inclusive[0]
    assert ["bridge/ingress/webhooks.py", 75.0] == modules[0]
    assert ["orjson", 25.0] == modules[1]


def test_table_is_markdown(tmp_path: Path) -> None:
    """The written table has a Markdown row per function."""
    stacks, table = tmp_path / "stacks.txt", tmp_path / "profile.txt"
    stacks.write_text(STACKS)
    write_profile_table(summarize_profile(stacks), table, "Bridge profile")
    text = table.read_text()
    assert "| `handle (bridge/ingress/webhooks.py)` | 75.0 |" in text
    assert text.startswith("Bridge profile (4 py-spy samples")
