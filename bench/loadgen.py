"""
The benchmark's load generator, run as its own process so that its CPU is
not the server's:

    python -m bench.loadgen --url URL --payloads FILE --out RESULT.json
        [--connections 64] [--duration 20] [--rate R] [--warmup 2]
        [--ids-out IDS.txt] [--cycle | --fresh-seed N]

`--payloads` holds one request body per line (see `bench.run`). Saturating
mode (no `--rate`): every connection sends as soon as its previous answer
arrived. Fixed-rate mode: an open-loop schedule, latency measured from each
request's scheduled send time (no coordinated omission). It prints
`measure-start` / `measure-end` on stdout around the measured window (after
the warm-up), so the caller samples server CPU over exactly that window.

When the pool runs out, `--cycle` starts over (fine for the ceilings, which do
not deduplicate), `--fresh-seed` generates new payloads live with
`bridge.commands.simulate` (the bridge deduplicates by content, so its runs need
distinct bodies); the result counts both.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson

from bridge.commands.simulate import SimulationReport, send, webhooks
from bridge.types import JSONObject

__all__ = ["main"]


class _Bodies:
    """Iterates the pool, then cycles or generates fresh payloads; counts both."""

    def __init__(
        self, pool: list[bytes], *, cycle: bool, fresh_seed: int | None, api_key: str | None
    ) -> None:
        self._pool = pool
        self._cycle = cycle
        self._fresh = (
            webhooks(fresh_seed, encrypt_with=api_key, encrypted_share=0.3)
            if fresh_seed is not None
            else None
        )
        self.index = 0
        self.reused = 0
        self.generated = 0

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        position = self.index
        self.index += 1
        if position < len(self._pool):
            return self._pool[position]
        if self._fresh is not None:
            self.generated += 1
            return next(self._fresh).body
        if not self._cycle or not self._pool:
            raise RuntimeError("payload pool exhausted (use --cycle or --fresh-seed)")
        self.reused += 1
        return self._pool[position % len(self._pool)]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--url", required=True, help="full URL to POST to")
    parser.add_argument("--payloads", type=Path, required=True, help="one body per line")
    parser.add_argument("--out", type=Path, required=True, help="result JSON file")
    parser.add_argument("--ids-out", type=Path, help="write acknowledged event ids here")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--rate", type=float, help="requests/s (open loop); default: saturate")
    parser.add_argument("--warmup", type=float, default=2.0, help="saturating warm-up seconds")
    parser.add_argument("--cycle", action="store_true", help="reuse the pool when exhausted")
    parser.add_argument("--fresh-seed", type=int, help="generate live payloads when exhausted")
    parser.add_argument("--api-key", help="encrypt 30%% of live-generated payloads with it")
    return parser


def _marker(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def _run(args: argparse.Namespace) -> JSONObject:
    pool = [line for line in args.payloads.read_bytes().split(b"\n") if line]
    bodies = _Bodies(pool, cycle=args.cycle, fresh_seed=args.fresh_seed, api_key=args.api_key)
    ids: list[str] = []
    warmup: SimulationReport | None = None
    if args.warmup > 0:
        warmup = await send(
            args.url,
            bodies,
            rate=None,
            count=None,
            duration_s=args.warmup,
            concurrency=args.connections,
            collect_ids=True,
        )
        ids.extend(warmup.acked_ids)
    _marker("measure-start")
    report = await send(
        args.url,
        bodies,
        rate=args.rate,
        count=None,
        duration_s=args.duration,
        concurrency=args.connections,
        collect_ids=True,
    )
    _marker("measure-end")
    ids.extend(report.acked_ids)
    if args.ids_out is not None:
        args.ids_out.write_text("".join(f"{i}\n" for i in ids))
    result = report.as_json()
    result |= {
        "mode": "fixed-rate" if args.rate else "saturating",
        "rate": args.rate,
        "connections": args.connections,
        "pool": len(pool),
        "pool_reused": bodies.reused,
        "generated_live": bodies.generated,
        "acked_ids": len(ids),
        "warmup": warmup.as_json() if warmup is not None else None,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    """Run one load test and write its result JSON."""
    args = _parser().parse_args(argv)
    try:
        import uvloop  # noqa: PLC0415  (optional: a cheaper client)
    except ImportError:
        result = asyncio.run(_run(args))
    else:
        result = uvloop.run(_run(args))
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
