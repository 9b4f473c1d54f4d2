"""
The `kyc-bridge` command line. Settings are built here, once, from the
environment; a bad setting exits with code 2 and names the setting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from collections.abc import Callable, Sequence

from bridge import __version__
from bridge.config import Settings, load_settings
from bridge.errors import BridgeError, ConfigError
from bridge.logs import Redactor, configure_logging

__all__ = ["main"]

Command = Callable[[argparse.Namespace], int]


def _settings(args: argparse.Namespace, *, webhooks: bool = True) -> Settings:
    """Build the settings once; commands that receive no webhooks need no tokens."""
    dev_token = secrets.token_urlsafe(24) if getattr(args, "dev", False) else None
    return load_settings(os.environ, dev_token=dev_token, require_tokens=webhooks)


def _logging(settings: Settings, *, to_stderr: bool = False) -> None:
    """Configure logging; tools log to stderr so that stdout carries only their result."""
    redactor = Redactor()
    redactor.add_secrets(settings.secrets())
    configure_logging(settings.log_level, redactor, stream=sys.stderr if to_stderr else None)


def _run_async(coro: object) -> None:
    try:
        import uvloop  # noqa: PLC0415  (optional speed-up)
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]
    else:
        uvloop.run(coro)  # type: ignore[arg-type]


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the bridge until SIGTERM."""
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
    """Validate the configuration and print it with secrets masked."""
    from bridge.commands.config import render_settings  # noqa: PLC0415

    print(render_settings(_settings(args)))
    return 0


def cmd_spool_status(args: argparse.Namespace) -> int:
    """Print the spool's pending events, bytes and oldest age."""
    from bridge.commands.spool import spool_status  # noqa: PLC0415

    return spool_status(_settings(args, webhooks=False))


def cmd_spool_drain(args: argparse.Namespace) -> int:
    """Publish everything in the spool to Kafka, then exit."""
    from bridge.commands.spool import spool_drain  # noqa: PLC0415

    settings = _settings(args, webhooks=False)
    _logging(settings, to_stderr=True)
    return spool_drain(settings, timeout_s=args.timeout)


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    """Re-normalize dead letters with the current code and settings; publish what succeeds."""
    import orjson  # noqa: PLC0415

    from bridge.commands.dlq import replay_dlq  # noqa: PLC0415

    settings = _settings(args, webhooks=False)
    _logging(settings, to_stderr=True)
    summary = asyncio.run(replay_dlq(settings, limit=args.limit, dry_run=args.dry_run))
    print(orjson.dumps(summary.as_dict()).decode())
    return 0 if not summary.failed else 1


def cmd_simulate(args: argparse.Namespace) -> int:
    """Send realistic ARGOS webhooks of every trigger to a URL (demo and load tool)."""
    from bridge.commands import simulate  # noqa: PLC0415

    return simulate.run(args)


def cmd_argos(args: argparse.Namespace) -> int:
    """Encrypt or decrypt an ARGOS payload (stdin to stdout)."""
    from bridge.commands.argos import argos_crypt  # noqa: PLC0415

    return argos_crypt(args.action, args.api_key or os.environ.get("BRIDGE_ARGOS_API_KEY", ""))


def _add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    from bridge.commands import simulate  # noqa: PLC0415

    simulate.add_arguments(parser)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kyc-bridge",
        description="ARGOS Identity KYC webhooks to Apache Kafka. Configured by BRIDGE_* "
        "environment variables (see README).",
    )
    parser.add_argument("--version", action="version", version=f"kyc-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the bridge", description=cmd_serve.__doc__)
    serve.add_argument(
        "--dev",
        action="store_true",
        help="INSECURE: if BRIDGE_AUTH_TOKENS is unset, generate a token and print the URL",
    )
    serve.set_defaults(func=cmd_serve)

    config = sub.add_parser("config", help="configuration tools").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    check = config.add_parser("check", help=cmd_config_check.__doc__)
    check.set_defaults(func=cmd_config_check)

    spool = sub.add_parser("spool", help="inspect or drain the durable spool").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    spool.add_parser("status", help=cmd_spool_status.__doc__).set_defaults(func=cmd_spool_status)
    drain = spool.add_parser("drain", help=cmd_spool_drain.__doc__)
    drain.add_argument("--timeout", type=float, default=300.0, help="give up after N seconds")
    drain.set_defaults(func=cmd_spool_drain)

    dlq = sub.add_parser("dlq", help="dead-letter tools").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    replay = dlq.add_parser("replay", help=cmd_dlq_replay.__doc__)
    replay.add_argument("--limit", type=int, help="replay at most N records")
    replay.add_argument("--dry-run", action="store_true", help="decode and validate only")
    replay.set_defaults(func=cmd_dlq_replay)

    simulate = sub.add_parser("simulate", help=cmd_simulate.__doc__)
    _add_simulate_arguments(simulate)
    simulate.set_defaults(func=cmd_simulate)

    argos = sub.add_parser("argos", help="ARGOS payload encryption tools").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    for action in ("encrypt", "decrypt"):
        p = argos.add_parser(action, help=f"{action} stdin with an ARGOS API key")
        p.add_argument("--api-key", help="API key (default: $BRIDGE_ARGOS_API_KEY)")
        p.set_defaults(func=cmd_argos)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `kyc-bridge` console script."""
    args = _parser().parse_args(argv)
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
