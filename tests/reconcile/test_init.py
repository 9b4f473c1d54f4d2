"""The public surface of bridge.reconcile."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import bridge.reconcile


def test_all_is_sorted_and_importable() -> None:
    """`__all__` is sorted (constants, classes, functions) and every name resolves."""
    names = bridge.reconcile.__all__
    assert sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n)) == names
    assert [] == [name for name in names if not hasattr(bridge.reconcile, name)]


def test_every_module_declares_all() -> None:
    """Every module of the package has an explicit `__all__`."""
    modules = [m.name for m in pkgutil.iter_modules(bridge.reconcile.__path__)]
    missing = [
        m
        for m in modules
        if not hasattr(importlib.import_module(f"bridge.reconcile.{m}"), "__all__")
    ]
    assert [] == missing


def test_nothing_from_the_delivery_core_or_the_http_server() -> None:
    """The package stays self-contained: no bridge.delivery, bridge.ingress or aiohttp.web."""
    banned = ("bridge.delivery", "bridge.ingress", "aiohttp.web", "from aiohttp import web")
    package = Path(bridge.reconcile.__file__).parent
    found = [
        (path.name, line)
        for path in sorted(package.glob("*.py"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith(("import ", "from ")) and any(word in line for word in banned)
    ]
    assert [] == found
