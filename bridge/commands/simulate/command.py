"""`kyc-bridge simulate`: the argparse wiring around `bridge.commands.simulate.simulate`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from itertools import islice

import orjson

from bridge.commands.simulate.payloads import webhooks
from bridge.commands.simulate.sender import SimulationReport, send

__all__ = ["add_arguments", "run", "simulate"]


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
    """Add the `simulate` options to `parser`."""
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="bridge base URL")
    parser.add_argument(
        "--token",
        default=os.environ.get("BRIDGE_DEV_TOKEN"),
        help="webhook token (default: $BRIDGE_DEV_TOKEN)",
    )
    parser.add_argument("--rate", type=float, help="requests/s (open loop); default: saturate")
    parser.add_argument("--count", type=int, help="stop after N requests (default 100)")
    parser.add_argument("--duration", type=float, help="stop after N seconds")
    parser.add_argument(
        "--encrypt-with",
        metavar="API_KEY",
        default=os.environ.get("BRIDGE_ARGOS_API_KEY"),
        help="encrypt payloads like ARGOS with this API key (default: $BRIDGE_ARGOS_API_KEY)",
    )
    parser.add_argument(
        "--encrypted-share", type=float, default=1.0, help="share encrypted (0-1, default 1)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="connections (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="payload stream seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--print",
        type=int,
        metavar="N",
        dest="print_only",
        help="print N bodies (one per line) instead of sending",
    )


def run(args: argparse.Namespace) -> int:
    """Run `simulate` from parsed arguments; exit 1 on any error or non-2xx answer."""
    if args.print_only is not None:
        stream = webhooks(
            args.seed, encrypt_with=args.encrypt_with, encrypted_share=args.encrypted_share
        )
        for webhook in islice(stream, args.print_only):
            sys.stdout.buffer.write(webhook.body + b"\n")
        return 0
    if not args.token:
        sys.stderr.write("simulate: --token (or $BRIDGE_DEV_TOKEN) is required\n")
        return 2
    count = args.count if args.count is not None or args.duration is not None else 100
    report = asyncio.run(
        simulate(
            args.url,
            args.token,
            rate=args.rate,
            count=count,
            duration_s=args.duration,
            encrypt_with=args.encrypt_with,
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
