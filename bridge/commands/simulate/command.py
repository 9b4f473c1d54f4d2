"""`kyc-bridge simulate`: the argparse wiring around `bridge.commands.simulate.simulate`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from itertools import islice

import orjson

from bridge.commands.credentials import (
    API_KEY,
    TOKEN,
    Prompt,
    add_secret_options,
    require_secret,
    resolve_secret,
)
from bridge.commands.simulate.payloads import TRIGGERS, webhooks
from bridge.commands.simulate.sender import SimulationReport, send

__all__ = ["add_arguments", "run", "simulate"]

_DEFAULT_COUNT = 100


def _positive_number(text: str) -> float:
    """argparse type: a finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


async def simulate(
    url: str,
    token: str,
    *,
    rate: float | None,
    count: int | None,
    duration_s: float | None,
    encrypt_with: str | None,
    concurrency: int,
    seed: int,
    encrypted_share: float = 1.0,
) -> SimulationReport:
    """
    Send simulated ARGOS webhooks to the bridge at base `url` (POST
    `{url}/webhooks/argos/{token}`), `encrypted_share` of them encrypted with
    the API key `encrypt_with`; see `bridge.commands.simulate.sender.send` for the modes.
    """
    bodies = (
        w.body for w in webhooks(seed, encrypt_with=encrypt_with, encrypted_share=encrypted_share)
    )
    return await send(
        f"{url.rstrip('/')}/webhooks/argos/{token}",
        bodies,
        rate=rate,
        count=count,
        duration_s=duration_s,
        concurrency=concurrency,
        collect_ids=True,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `simulate` options to `parser` (defaults are shown by the parser's formatter)."""
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="bridge base URL")
    add_secret_options(parser, TOKEN, flag="--token", metavar="TOKEN", prompted=True)
    parser.add_argument(
        "--rate",
        type=_positive_number,
        metavar="R",
        help="requests/s, open loop (default: saturate)",
    )
    parser.add_argument(
        "--count",
        type=_positive_int,
        metavar="N",
        help=f"stop after N requests (default: {_DEFAULT_COUNT} unless --duration is given); "
        f"the first {len(TRIGGERS)} cover every trigger",
    )
    parser.add_argument(
        "--duration", type=_positive_number, metavar="S", help="stop after S seconds"
    )
    add_secret_options(
        parser,
        API_KEY,
        flag="--encrypt-with",
        metavar="API_KEY",
        prompted=False,
        purpose=", to encrypt the payloads like ARGOS does; without a key they are plain JSON",
    )
    parser.add_argument(
        "--encrypted-share",
        type=float,
        metavar="SHARE",
        default=1.0,
        help="share of the payloads to encrypt when there is an API key (0-1)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=16,
        metavar="N",
        help="connections in parallel",
    )
    parser.add_argument("--seed", type=int, default=0, help="payload stream seed")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--print",
        type=int,
        metavar="N",
        dest="print_only",
        help="print N bodies (one per line) instead of sending; needs no token",
    )


def run(args: argparse.Namespace, *, env: Mapping[str, str], prompt: Prompt | None) -> int:
    """
    Run `simulate` from parsed arguments; secrets come from the flags, files,
    `env` (`BRIDGE_AUTH_TOKENS`, `BRIDGE_ARGOS_API_KEYS`) or `prompt` (the token
    only: encryption is optional). Exit 1 on any transport error or non-2xx answer.

    Raises:
        ConfigError: no webhook token anywhere, or a secret file cannot be read.
    """
    api_key = resolve_secret(
        API_KEY, given=args.api_key, file=args.api_key_file, env=env, prompt=None
    )
    if args.print_only is not None:
        stream = webhooks(args.seed, encrypt_with=api_key, encrypted_share=args.encrypted_share)
        for webhook in islice(stream, args.print_only):
            sys.stdout.buffer.write(webhook.body + b"\n")
        return 0
    token = require_secret(TOKEN, given=args.token, file=args.token_file, env=env, prompt=prompt)
    count = args.count if args.count is not None or args.duration is not None else _DEFAULT_COUNT
    report = asyncio.run(
        simulate(
            args.url,
            token,
            rate=args.rate,
            count=count,
            duration_s=args.duration,
            encrypt_with=api_key,
            concurrency=args.concurrency,
            seed=args.seed,
            encrypted_share=args.encrypted_share,
        )
    )
    summary = report.as_json()
    if args.json:
        sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    else:
        sys.stdout.write(
            f"sent {report.sent}, {report.throughput:.0f} req/s, statuses {summary['statuses']}, "
            f"errors {summary['error_kinds']}, latency ms p50 {report.p50_ms:.1f} "
            f"p95 {report.p95_ms:.1f} p99 {report.p99_ms:.1f} max {report.max_ms:.1f}\n"
        )
    return 0 if report.ok == report.sent else 1
