"""
The `kyc-bridge` command line. Settings are built here, once, from the
environment; a bad setting exits with code 2 and names the setting.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import secrets
import sys
import textwrap
from collections.abc import Callable, Coroutine, Sequence
from datetime import date, datetime

from bridge import __version__
from bridge.config import Settings, load_settings
from bridge.errors import BridgeError, ConfigError
from bridge.logs import Redactor, configure_logging

__all__ = ["HelpFormatter", "build_parser", "main"]

Command = Callable[[argparse.Namespace], int]


def _settings(args: argparse.Namespace, *, webhooks: bool = True) -> Settings:
    """Build the settings once; commands that receive no webhooks need no tokens."""
    dev_token = secrets.token_urlsafe(24) if getattr(args, "dev", False) else None
    return load_settings(os.environ, dev_token=dev_token, require_tokens=webhooks)


def _logging(settings: Settings, *, to_stderr: bool = False) -> None:
    """Configure logging; tools log to stderr so that stdout carries only their result."""
    from bridge.pii.marking import personal_keys  # noqa: PLC0415
    from bridge.schemas import load_registry  # noqa: PLC0415

    registry = load_registry()
    redactor = Redactor(personal_keys(registry.schema(n) for n in registry.names))
    redactor.add_secrets(settings.secrets())
    configure_logging(settings.log_level, redactor, stream=sys.stderr if to_stderr else None)


def _run_async(coro: Coroutine[object, object, None]) -> None:
    try:
        import uvloop  # noqa: PLC0415  (optional speed-up)
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def cmd_serve(args: argparse.Namespace) -> int:
    """
    Run the bridge: receive ARGOS webhooks, store them in the spool and publish
    them to Kafka, until SIGTERM. Needs webhook tokens (BRIDGE_AUTH_TOKENS or a
    projects file), unless --dev.
    """
    from bridge.ingress.app import serve  # noqa: PLC0415  (keeps `--help` fast)

    settings = _settings(args)
    _logging(settings)
    if args.dev and not os.environ.get("BRIDGE_AUTH_TOKENS"):
        token = settings.projects[0].tokens[0].value
        print(
            f"INSECURE DEV MODE: webhook URL http://127.0.0.1:{settings.http.port}"
            f"/webhooks/argos/{token}",
            file=sys.stderr,
        )
    _run_async(serve(settings))
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    """
    Validate the configuration as `serve` does (webhook tokens included) and
    print it as JSON with secrets masked; exit 2 naming every bad setting.
    """
    from bridge.commands.config import render_settings  # noqa: PLC0415

    print(render_settings(_settings(args)))
    return 0


def cmd_spool_status(args: argparse.Namespace) -> int:
    """
    Print the spool's pending events, bytes, oldest age, events per topic, dedup
    entries and the volume's free space as JSON. Read-only: safe while the bridge
    serves. Needs no webhook token; exit 1 when BRIDGE_SPOOL_DIR holds no spool.
    """
    from bridge.commands.spool import spool_status  # noqa: PLC0415

    return spool_status(_settings(args, webhooks=False))


def cmd_spool_drain(args: argparse.Namespace) -> int:
    """
    Publish the spool's backlog to Kafka in order, then exit; only while the
    bridge is stopped (one process owns a spool). Needs no webhook token; exit 1
    when BRIDGE_SPOOL_DIR holds no spool or anything is left after --timeout.
    """
    from bridge.commands.spool import spool_drain  # noqa: PLC0415

    settings = _settings(args, webhooks=False)
    _logging(settings, to_stderr=True)
    return spool_drain(settings, timeout_s=args.timeout)


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    """
    Re-run dead letters through the current code, keys and settings, and publish
    what now succeeds. Replay remembers what it did in a consumer group (offsets
    are committed only after Kafka acknowledged the republished event), so a
    second run publishes nothing twice. Prints a JSON summary on stdout and its
    progress on stderr.
    """
    import orjson  # noqa: PLC0415

    from bridge.commands.dlq import ReplayOptions, default_group, replay_dlq  # noqa: PLC0415

    settings = _settings(args, webhooks=False)
    _logging(settings, to_stderr=True)
    options = ReplayOptions(
        group=args.group or default_group(settings),
        from_beginning=args.from_beginning,
        reasons=frozenset(args.reason or ()),
        since=args.since,
        limit=args.limit,
        dry_run=args.dry_run,
    )
    summary = asyncio.run(replay_dlq(settings, options))
    print(orjson.dumps(summary.as_dict()).decode())
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """
    Send realistic ARGOS webhooks to a bridge: a demo and a load tool. The first
    ones take one submission through every trigger; then submissions follow
    their lifecycles, interleaved. The webhook token comes from
    BRIDGE_AUTH_TOKENS (first token), --token-file or a prompt; payloads are
    encrypted when an ARGOS API key is given (BRIDGE_ARGOS_API_KEYS, first key,
    or --api-key-file).
    """
    from bridge.commands import simulate  # noqa: PLC0415
    from bridge.commands.credentials import terminal_prompt  # noqa: PLC0415

    return simulate.run(args, env=os.environ, prompt=terminal_prompt(sys.stdin, sys.stderr))


def cmd_argos(args: argparse.Namespace) -> int:
    """
    Encrypt stdin into an ARGOS body, or decrypt one, to stdout. The ARGOS API
    key comes from BRIDGE_ARGOS_API_KEYS (first key), --api-key-file or a prompt.
    """
    from bridge.commands.argos import argos_crypt  # noqa: PLC0415
    from bridge.commands.credentials import API_KEY, require_secret, terminal_prompt  # noqa: PLC0415

    api_key = require_secret(
        API_KEY,
        given=args.api_key,
        file=args.api_key_file,
        env=os.environ,
        prompt=terminal_prompt(sys.stdin, sys.stderr),
    )
    return argos_crypt(args.action, api_key)


def cmd_events_read(args: argparse.Namespace) -> int:
    """
    Print the records of a topic, one JSON object per line (stdout). With --decrypt
    the personal fields are decrypted with the key-encryption key
    (BRIDGE_PII_KEK_FILE or the AWS KMS key), following the keys topic; erased
    subjects print their clear fields and "pii": "erased". Without
    --from-beginning only new records are printed.
    """
    from bridge.commands.events import read_events  # noqa: PLC0415

    settings = _settings(args, webhooks=False)
    _logging(settings, to_stderr=True)
    asyncio.run(
        read_events(
            settings,
            topic=args.topic,
            from_beginning=args.from_beginning,
            subject=args.subject,
            decrypt=args.decrypt,
            follow=not args.no_follow,
        )
    )
    return 0


def cmd_pii_erase(args: argparse.Namespace) -> int:
    """
    Erase subjects (crypto-shredding): every data key of each subject, whichever
    bridge replica created it, gets a tombstone on the keys topic, and a
    kyc.erased event tells downstream services to delete their own copies. The
    subject's records can no longer be decrypted (by the shipped reader at once;
    by anyone holding the KEK once the keys topic is compacted). Prints a JSON
    summary (subject -> erased key ids).
    """
    import orjson  # noqa: PLC0415

    from bridge.commands.pii import run  # noqa: PLC0415

    settings = _settings(args, webhooks=False)
    _logging(settings, to_stderr=True)
    print(orjson.dumps(run(settings, args.subjects, args.project)).decode())
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    """
    One-off backfill from the ARGOS API: for every submission whose API result is
    newer than its current state (the state topic), publish that result like a
    webhook (source.channel "reconcile"), through a spool of its own. Shows
    progress on stderr and prints a JSON summary (submissions checked, missing
    results found, events published).
    """
    import orjson  # noqa: PLC0415

    from bridge.commands.reconcile import run  # noqa: PLC0415

    settings = _settings(args, webhooks=False)
    _logging(settings, to_stderr=True)
    summary = run(
        settings,
        projects=args.project,
        since=args.since,
        until=args.until,
        dry_run=args.dry_run,
    )
    print(orjson.dumps(summary.as_dict()).decode())
    return 0 if summary.complete else 1


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep descriptions as written; end each option's help with its default, if it has one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "(default" in text or not action.option_strings:
            return text
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)"


Subcommands = argparse._SubParsersAction  # argparse has no public name for it


def _describe(doc: str | None) -> str:
    """A description from a docstring: paragraphs kept, lines re-wrapped."""
    paragraphs = inspect.cleandoc(doc or "").split("\n\n")
    return "\n\n".join(textwrap.fill(" ".join(p.split()), 78) for p in paragraphs)


def _group(
    sub: Subcommands[argparse.ArgumentParser], name: str, summary: str
) -> Subcommands[argparse.ArgumentParser]:
    parser = sub.add_parser(
        name, help=summary, description=f"{summary}.", formatter_class=HelpFormatter
    )
    return parser.add_subparsers(dest="action", required=True, metavar="ACTION")


def _command(
    sub: Subcommands[argparse.ArgumentParser],
    name: str,
    func: Command,
    *,
    summary: str | None = None,
    epilog: str | None = None,
) -> argparse.ArgumentParser:
    description = _describe(func.__doc__)
    first = " ".join(description.split("\n\n")[0].split()).split(". ")[0].rstrip(".")
    parser = sub.add_parser(
        name,
        help=summary or first,
        description=description,
        epilog=epilog,
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(func=func)
    return parser


def _since(text: str) -> datetime:
    from bridge.commands.dlq import parse_since  # noqa: PLC0415

    try:
        return parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected RFC 3339 or YYYY-MM-DD: {exc}") from None


_REPLAY_EPILOG = """\
Dead letters passed over by --reason or --since count as done for the group,
like the others: see them again with --from-beginning (or another --group).
Replayed events keep their event id (ce_id), so consumers deduplicate repeats.

exit status: 0 the replay ran (dead letters that still fail are listed in the
summary), 1 Kafka unreachable or the DLQ topic missing, 2 bad arguments or
configuration."""


def build_parser() -> argparse.ArgumentParser:
    """Return the `kyc-bridge` argument parser: every command, described, defaults shown."""
    from bridge.commands import simulate  # noqa: PLC0415
    from bridge.commands.credentials import API_KEY, add_secret_options  # noqa: PLC0415
    from bridge.commands.dlq import REASONS  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        prog="kyc-bridge",
        description=_describe(
            "ARGOS Identity KYC webhooks to Apache Kafka. Configured by BRIDGE_* environment "
            "variables (see the README); every secret may be given as <NAME>_FILE instead."
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kyc-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = _command(sub, "serve", cmd_serve)
    serve.add_argument(
        "--dev",
        action="store_true",
        help="INSECURE: if BRIDGE_AUTH_TOKENS is unset, generate a token and print the URL",
    )

    config = _group(sub, "config", "Configuration tools")
    _command(config, "check", cmd_config_check)

    spool = _group(sub, "spool", "Inspect or drain the durable spool")
    _command(spool, "status", cmd_spool_status)
    drain = _command(spool, "drain", cmd_spool_drain)
    drain.add_argument(
        "--timeout", type=float, default=300.0, metavar="S", help="give up after S seconds"
    )

    dlq = _group(sub, "dlq", "Dead-letter tools")
    replay = _command(dlq, "replay", cmd_dlq_replay, epilog=_REPLAY_EPILOG)
    replay.add_argument(
        "--group",
        help="consumer group that remembers what was replayed "
        "(default: $BRIDGE_KAFKA_CLIENT_ID.dlq-replay, i.e. kyc-bridge.dlq-replay)",
    )
    replay.add_argument(
        "--from-beginning",
        action="store_true",
        help="start at the beginning of the DLQ, ignoring the group's committed offsets",
    )
    replay.add_argument(
        "--reason",
        action="append",
        choices=sorted(REASONS),
        metavar="CODE",
        help="only dead letters with this reason code; repeatable "
        f"(default: every reason; codes: {', '.join(sorted(REASONS))})",
    )
    replay.add_argument(
        "--since",
        type=_since,
        metavar="TIME",
        help="only dead letters received at or after TIME: RFC 3339 or YYYY-MM-DD (UTC)",
    )
    replay.add_argument("--limit", type=int, metavar="N", help="replay at most N dead letters")
    replay.add_argument(
        "--dry-run",
        action="store_true",
        help="decode and validate only: publish nothing, commit no offset",
    )

    simulate.add_arguments(_command(sub, "simulate", cmd_simulate))

    events = _group(sub, "events", "Read published events")
    read = _command(events, "read", cmd_events_read)
    read.add_argument("--topic", help="the topic to read (default: $BRIDGE_TOPIC)")
    read.add_argument("--from-beginning", action="store_true", help="start at the beginning")
    read.add_argument("--subject", metavar="S", help="only the records keyed by subject S")
    read.add_argument("--decrypt", action="store_true", help="decrypt personal fields")
    read.add_argument(
        "--no-follow", action="store_true", help="stop at the end instead of waiting for more"
    )

    pii = _group(sub, "pii", "Personal-data tools")
    erase = _command(pii, "erase", cmd_pii_erase)
    erase.add_argument("subjects", nargs="+", metavar="SUBJECT", help="submission id (record key)")
    erase.add_argument(
        "--project", help="project whose topic gets the kyc.erased event (default: the first)"
    )

    reconcile = _command(sub, "reconcile", cmd_reconcile)
    reconcile.add_argument(
        "--project", action="append", help="only this project; repeatable (default: all)"
    )
    reconcile.add_argument(
        "--since",
        type=date.fromisoformat,
        metavar="DATE",
        help="first day, YYYY-MM-DD (default: today minus BRIDGE_RECONCILE_LOOKBACK_DAYS)",
    )
    reconcile.add_argument(
        "--until", type=date.fromisoformat, metavar="DATE", help="last day (default: today)"
    )
    reconcile.add_argument(
        "--dry-run", action="store_true", help="find missing results, publish nothing"
    )

    argos = _group(sub, "argos", "ARGOS payload encryption tools")
    for action in ("encrypt", "decrypt"):
        crypt = _command(argos, action, cmd_argos, summary=f"{action} stdin with an ARGOS API key")
        add_secret_options(crypt, API_KEY, flag="--api-key", metavar="KEY", prompted=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `kyc-bridge` console script."""
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"kyc-bridge: configuration error: {problem}", file=sys.stderr)
        return 2
    except BridgeError as exc:
        print(f"kyc-bridge: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result
