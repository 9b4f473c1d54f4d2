"""Render the effective settings for `kyc-bridge config check`, secrets masked."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

import orjson

from bridge.config import Secret, Settings

__all__ = ["render_settings"]


def _plain(value: object) -> object:
    if isinstance(value, Secret):
        return "****" if value.value else ""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Path | ipaddress.IPv4Network | ipaddress.IPv6Network):
        return str(value)
    return value


def render_settings(settings: Settings) -> str:
    """Return the settings as indented JSON with every secret replaced by `****`."""
    return orjson.dumps(_plain(settings), option=orjson.OPT_INDENT_2).decode()
