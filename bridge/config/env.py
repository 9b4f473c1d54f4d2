"""
Typed reads from an environment mapping. A bad value does not stop the read:
it is recorded (naming the variable) and the default is used, so that every
problem of a configuration is reported in one run.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from bridge.config.settings import Network

__all__ = ["Env"]

_T = TypeVar("_T", bound=str)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Env:
    """An environment mapping with typed getters; `errors` collects what was wrong."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.errors: list[str] = []

    def error(self, message: str) -> None:
        """Record one configuration problem (a message naming the setting)."""
        if message not in self.errors:
            self.errors.append(message)

    def raw(self, name: str, *, secret: bool = False) -> str | None:
        """Return the value of `name`, or of the file named by `name_FILE` for secrets."""
        if secret and (path := self._env.get(f"{name}_FILE")):
            try:
                return Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                self.error(f"{name}_FILE: cannot read {path}: {exc.strerror}")
                return None
        value = self._env.get(name)
        return value if value not in (None, "") else None

    def text(self, name: str, default: str) -> str:
        return self.raw(name) or default

    def integer(self, name: str, default: int, *, minimum: int = 0) -> int:
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            value = int(raw.replace("_", ""))
        except ValueError:
            self.error(f"{name}: expected an integer, got {raw!r}")
            return default
        if value < minimum:
            self.error(f"{name}: must be at least {minimum}, got {value}")
            return default
        return value

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            self.error(f"{name}: expected a number, got {raw!r}")
            return default
        if not math.isfinite(value):  # nan compares false with everything: refuse it here
            self.error(f"{name}: expected a finite number, got {raw!r}")
            return default
        if value < minimum:
            self.error(f"{name}: must be at least {minimum}, got {value}")
            return default
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.raw(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        self.error(f"{name}: expected true or false, got {raw!r}")
        return default

    def items(self, name: str, *, secret: bool = False) -> tuple[str, ...]:
        raw = self.raw(name, secret=secret)
        return tuple(p.strip() for p in (raw or "").replace("\n", ",").split(",") if p.strip())

    def path(self, name: str) -> Path | None:
        raw = self.raw(name)
        return Path(raw) if raw else None

    def choice(self, name: str, default: _T, allowed: tuple[_T, ...]) -> _T:
        raw = self.raw(name)
        if raw is None:
            return default
        for option in allowed:
            if raw.upper() == option.upper():
                return option
        self.error(f"{name}: expected one of {', '.join(allowed)}, got {raw!r}")
        return default

    def networks(self, name: str, values: Iterable[str]) -> tuple[Network, ...]:
        found: list[Network] = []
        for value in values:
            try:
                found.append(ipaddress.ip_network(value, strict=False))
            except ValueError as exc:
                self.error(f"{name}: {exc}")
        return tuple(found)
