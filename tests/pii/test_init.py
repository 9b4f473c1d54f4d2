"""The public surface of bridge.pii."""

from __future__ import annotations

import importlib
import pkgutil

import bridge.pii


def test_all_is_sorted_and_importable() -> None:
    """`__all__` is sorted (constants, classes, functions) and every name resolves."""
    names = bridge.pii.__all__
    assert sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n)) == names
    assert [] == [name for name in names if not hasattr(bridge.pii, name)]


def test_every_module_declares_all() -> None:
    """Every module of the package has an explicit `__all__`."""
    modules = [m.name for m in pkgutil.iter_modules(bridge.pii.__path__)]
    missing = [
        m for m in modules if not hasattr(importlib.import_module(f"bridge.pii.{m}"), "__all__")
    ]
    assert [] == missing
