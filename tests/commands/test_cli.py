"""The `kyc-bridge` parser and the tools' secrets: help pages, defaults, where secrets come from."""

from __future__ import annotations

import argparse
import io
import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import structlog

from bridge import crypto
from bridge.commands.cli import build_parser, main
from bridge.commands.credentials import API_KEY, TOKEN, resolve_secret, terminal_prompt
from bridge.errors import ConfigError

API_KEYS = "first-api-key-0001,second-api-key-0002"


def _parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the command tree with its command path (argparse keeps them private)."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, (*path, name))


def _with_default(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        default = action.default
        if not action.option_strings or default is None or default is False:
            continue
        if default == argparse.SUPPRESS:
            continue
        yield action


PARSERS = list(_parsers(build_parser()))


def test_the_walk_sees_every_command() -> None:
    """The help walk below covers every command and subcommand the CLI has."""
    expected = {
        (), ("serve",), ("config",), ("config", "check"), ("spool",), ("spool", "status"),
        ("spool", "drain"), ("dlq",), ("dlq", "replay"), ("simulate",), ("argos",),
        ("argos", "encrypt"), ("argos", "decrypt"), ("events",), ("events", "read"), ("pii",),
        ("pii", "erase"), ("reconcile",),
    }  # fmt: skip
    assert expected == {path for path, _ in PARSERS}


@pytest.mark.parametrize(
    ("path", "parser"), PARSERS, ids=[" ".join(path) or "kyc-bridge" for path, _ in PARSERS]
)
def test_every_help_page_has_a_description_and_shows_defaults(
    path: tuple[str, ...], parser: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--help` of each command has a description, and each option with a default shows it."""
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert 0 == exited.value.code
    page = " ".join(capsys.readouterr().out.split())
    assert parser.description
    assert " ".join(parser.description.split()) in page
    for action in _with_default(parser):
        formatter = parser.formatter_class(prog=parser.prog)
        formatter.add_argument(action)
        rendered = " ".join(formatter.format_help().split())
        assert f"(default: {action.default})" in rendered, action.option_strings
        assert rendered in page


def test_help_pages_name_no_retired_variables() -> None:
    """One name per concept: no help page mentions BRIDGE_ARGOS_API_KEY or BRIDGE_DEV_TOKEN."""
    pages = " ".join(parser.format_help() for _, parser in PARSERS)
    assert "BRIDGE_ARGOS_API_KEYS" in pages
    assert "BRIDGE_AUTH_TOKENS" in pages
    assert [] == re.findall(r"BRIDGE_ARGOS_API_KEY(?!S)|BRIDGE_DEV_TOKEN", pages)


@pytest.mark.parametrize(
    ("path", "flag"),
    [(("argos", "encrypt"), "--api-key"), (("argos", "decrypt"), "--api-key"),
     (("simulate",), "--token"), (("simulate",), "--encrypt-with")],
)  # fmt: skip
def test_secret_flags_are_marked_discouraged(path: tuple[str, ...], flag: str) -> None:
    """A secret that may still be passed as a flag says in its help that it is discouraged."""
    parser = dict(PARSERS)[path]
    (action,) = [a for a in parser._actions if flag in a.option_strings]
    assert action.help is not None
    assert action.help.startswith("DISCOURAGED")
    assert "`ps`" in action.help


@pytest.mark.parametrize(
    ("given", "file_text", "env", "prompted", "expected"),
    [
        ("flag-value", None, {"BRIDGE_ARGOS_API_KEYS": API_KEYS}, None, "flag-value"),
        (None, "from-file-0001\n", {"BRIDGE_ARGOS_API_KEYS": API_KEYS}, None, "from-file-0001"),
        (None, "a-0001, b-0002", {}, None, "a-0001"),
        (None, None, {"BRIDGE_ARGOS_API_KEYS": API_KEYS}, "typed", "first-api-key-0001"),
        (None, None, {}, "typed-key-0001", "typed-key-0001"),
        (None, None, {}, None, None),
    ],
    ids=["flag", "file", "file-first-item", "environment", "prompt", "nowhere"],
)
def test_secret_sources_in_order(
    tmp_path: Path,
    given: str | None,
    file_text: str | None,
    env: dict[str, str],
    prompted: str | None,
    expected: str | None,
) -> None:
    """Flag, then file option, then environment (first key), then the prompt; else None."""
    file = None
    if file_text is not None:
        file = tmp_path / "key"
        file.write_text(file_text)
    prompt = (lambda _: prompted) if prompted is not None else None
    assert expected == resolve_secret(API_KEY, given=given, file=file, env=env, prompt=prompt)


def test_secret_from_the_settings_file_form(tmp_path: Path) -> None:
    """`BRIDGE_AUTH_TOKENS_FILE` works like the bridge's own setting: its first token."""
    path = tmp_path / "tokens"
    path.write_text("token-one-0000000001,token-two-0000000002\n")
    env = {"BRIDGE_AUTH_TOKENS_FILE": str(path)}
    assert "token-one-0000000001" == resolve_secret(
        TOKEN, given=None, file=None, env=env, prompt=None
    )


@pytest.mark.parametrize("content", [None, ""], ids=["missing", "empty"])
def test_unreadable_secret_file_names_the_option(tmp_path: Path, content: str | None) -> None:
    """A missing or empty --api-key-file is a configuration error naming the option."""
    path = tmp_path / "key"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match="--api-key-file"):
        resolve_secret(API_KEY, given=None, file=path, env={}, prompt=None)


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    ("stdin", "stderr", "prompts"),
    [(True, True, True), (False, True, False), (True, False, False), (False, False, False)],
)
def test_prompt_only_when_stdin_and_stderr_are_terminals(
    stdin: bool, stderr: bool, prompts: bool
) -> None:
    """The getpass prompt is offered only to an interactive user."""
    assert prompts == (terminal_prompt(_Stream(stdin), _Stream(stderr)) is not None)


class _TtyStdin(io.TextIOWrapper):
    """A terminal's stdin holding `data`."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))

    def isatty(self) -> bool:
        return True


def test_argos_asks_for_the_key_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no key anywhere, `argos encrypt` on a terminal prompts (getpass) and uses the answer."""
    asked: list[str] = []

    def fake_getpass(prompt: str) -> str:
        asked.append(prompt)
        return "typed-api-key-0001"

    monkeypatch.delenv("BRIDGE_ARGOS_API_KEYS", raising=False)
    monkeypatch.delenv("BRIDGE_ARGOS_API_KEYS_FILE", raising=False)
    monkeypatch.setattr("getpass.getpass", fake_getpass)
    monkeypatch.setattr("sys.stdin", _TtyStdin(b'{"webhook_trigger":"submit"}'))
    monkeypatch.setattr("sys.stderr", _Stream(tty=True))
    assert 0 == main(["argos", "encrypt"])
    body = orjson.loads(capsys.readouterr().out)
    assert ["ARGOS API key: "] == asked
    assert b'{"webhook_trigger":"submit"}' == crypto.decrypt(body["data"], ["typed-api-key-0001"])


@pytest.mark.parametrize(
    ("body", "code"), [(b'{"foo": 1}', 2), (b'{"data": null}', 2), (b"[1, 2]", 1)]
)
def test_argos_decrypt_of_something_else_is_a_clear_error(
    body: bytes, code: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    JSON without a `data` string (a KeyError, a TypeError before): exit 2 saying what is
    expected; anything else is tried as bare base64 and does not open (exit 1).
    """
    monkeypatch.setenv("BRIDGE_ARGOS_API_KEYS", API_KEYS)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(body)))
    assert code == main(["argos", "decrypt"])
    err = capsys.readouterr().err
    assert err.startswith("kyc-bridge: ")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--rate", "0"],
        ["--rate", "nan"],
        ["--rate", "-5"],
        ["--concurrency", "0"],
        ["--count", "0"],
        ["--duration", "inf"],
    ],
)
def test_simulate_refuses_rates_and_counts_that_cannot_work(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--rate 0` divided by zero and `--concurrency 0` sent nothing and exited 0: usage errors."""
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--token", "simulate-token-000000001", *argv])
    assert 2 == exited.value.code
    assert argv[0] in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_number_setting_must_be_finite(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`nan` compares false with every bound, so it slipped past them: refused, named."""
    monkeypatch.setenv("BRIDGE_AUTH_TOKENS", "config-token-000000000001")
    monkeypatch.setenv("BRIDGE_HTTP_READ_TIMEOUT_S", value)
    assert 2 == main(["config", "check"])
    assert "BRIDGE_HTTP_READ_TIMEOUT_S: expected a finite number" in capsys.readouterr().err


def test_pii_erase_without_kafka_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Kafka unreachable: exit 1 with one `kyc-bridge:` line, not aiokafka's traceback."""
    kek = tmp_path / "kek.jwks"
    kek.write_text(
        '{"keys":[{"kty":"oct","kid":"kek-1","k":"' + "A" * 43 + '"}]}', encoding="utf-8"
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    monkeypatch.setenv("BRIDGE_AUTH_TOKENS", "erase-token-0000000000001")
    monkeypatch.setenv("BRIDGE_PII_KEK_FILE", str(kek))
    monkeypatch.setenv("BRIDGE_KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{port}")
    try:
        assert 1 == main(["pii", "erase", "sub-1"])
    finally:  # the command configured logging to this test's captured stderr
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    assert "\nkyc-bridge: kafka unreachable" in err
    assert "Traceback" not in err
