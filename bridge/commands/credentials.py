"""
Secrets the command-line tools need (an ARGOS API key, a webhook token), kept
off the command line: they come from the environment (the bridge's own
settings, `BRIDGE_ARGOS_API_KEYS` / `BRIDGE_AUTH_TOKENS` or their `_FILE`
forms, first item), from a file option, or from an interactive prompt. A value
given as a flag is still accepted but discouraged: it shows in `ps` and in the
shell history.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bridge.config import read_secret
from bridge.errors import ConfigError

__all__ = [
    "API_KEY",
    "TOKEN",
    "Prompt",
    "SecretSpec",
    "add_secret_options",
    "first_item",
    "require_secret",
    "resolve_secret",
    "terminal_prompt",
]

Prompt = Callable[[str], str]
"""Ask the user for a secret without echoing it (`getpass.getpass`)."""


class _Stream(Protocol):
    def isatty(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class SecretSpec:
    """One kind of secret: its setting, what to call it, its file option and its `dest`."""

    setting: str
    what: str
    file_option: str
    dest: str


API_KEY = SecretSpec("BRIDGE_ARGOS_API_KEYS", "ARGOS API key", "--api-key-file", "api_key")
TOKEN = SecretSpec("BRIDGE_AUTH_TOKENS", "webhook token", "--token-file", "token")


def first_item(text: str) -> str | None:
    """Return the first entry of a comma- or newline-separated list (None when empty)."""
    for item in text.replace("\n", ",").split(","):
        if item.strip():
            return item.strip()
    return None


def add_secret_options(
    parser: argparse.ArgumentParser,
    spec: SecretSpec,
    *,
    flag: str,
    metavar: str,
    prompted: bool,
    purpose: str = "",
) -> None:
    """
    Add `spec.file_option` and the discouraged `flag` to `parser` (both optional),
    with help texts that say where the secret comes from otherwise (`prompted`:
    the command asks on a terminal when nothing else gives it).
    """
    otherwise = "; otherwise a prompt on a terminal" if prompted else ""
    alternatives = (
        f"${spec.setting}, {spec.file_option} or the prompt"
        if prompted
        else f"${spec.setting} or {spec.file_option}"
    )
    parser.add_argument(
        spec.file_option,
        type=Path,
        metavar="PATH",
        dest=f"{spec.dest}_file",
        help=f"read the {spec.what} from this file (first line or comma-separated item)"
        f"{purpose} (default: the first item of ${spec.setting} or ${spec.setting}_FILE"
        f"{otherwise})",
    )
    parser.add_argument(
        flag,
        metavar=metavar,
        dest=spec.dest,
        help=f"DISCOURAGED: the {spec.what} itself; a secret on the command line shows in "
        f"`ps` and in the shell history. Prefer {alternatives}",
    )


def _read_file(option: str, path: Path) -> str:
    try:
        value = first_item(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{option}: cannot read {path}: {exc.strerror}") from None
    if value is None:
        raise ConfigError(f"{option}: {path} is empty")
    return value


def resolve_secret(
    spec: SecretSpec,
    *,
    given: str | None,
    file: Path | None,
    env: Mapping[str, str],
    prompt: Prompt | None,
) -> str | None:
    """
    Return the secret from the first source that has it: the (discouraged) flag
    value `given`, the file option, the environment (`spec.setting` or its
    `_FILE` form, first item), the `prompt` (None: not interactive). Return None
    when none has it.

    Raises:
        ConfigError: the file (or `<setting>_FILE`) cannot be read or is empty.
    """
    if given:
        return given
    if file is not None:
        return _read_file(spec.file_option, file)
    configured = read_secret(env, spec.setting)
    if configured and (value := first_item(configured)):
        return value
    if prompt is not None:
        return prompt(f"{spec.what}: ").strip() or None
    return None


def require_secret(
    spec: SecretSpec,
    *,
    given: str | None,
    file: Path | None,
    env: Mapping[str, str],
    prompt: Prompt | None,
) -> str:
    """
    Like `resolve_secret`, but a missing secret is an error.

    Raises:
        ConfigError: the secret is nowhere, or its file cannot be read.
    """
    value = resolve_secret(spec, given=given, file=file, env=env, prompt=prompt)
    if value is None:
        raise ConfigError(
            f"{spec.setting}: no {spec.what}; set {spec.setting} (or {spec.setting}_FILE), "
            f"pass {spec.file_option}, or run on a terminal to be prompted"
        )
    return value


def terminal_prompt(stdin: _Stream, stderr: _Stream) -> Prompt | None:
    """Return `getpass.getpass` when stdin and stderr are terminals, else None (no prompt)."""
    return getpass.getpass if stdin.isatty() and stderr.isatty() else None
