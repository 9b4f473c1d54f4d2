"""
The benchmark's load generator, run as its own process so that its CPU is
not the server's:

    python -m bench.loadgen --url URL --payloads FILE --out RESULT.json
        [--connections 64] [--duration 20] [--rate R] [--warmup 2]
        [--ids-out IDS.txt] [--samples-out SAMPLES.bin]
        [--cycle | --variants [--api-key KEY]] [--stop-on-full]

`--payloads` holds one request body per line (see `bench.run`). Saturating
mode (no `--rate`): every connection sends as soon as its previous answer
arrived. Fixed-rate mode: an open-loop schedule, latency measured from each
request's scheduled send time (no coordinated omission). It prints
`measure-start` / `measure-end` on stdout around the measured window (after
the warm-up), so the caller samples server CPU over exactly that window;
SIGUSR1 ends the measured window early (in-flight requests are awaited);
`--samples-out` keeps every measured request (`bench.stats.Samples`) so the
caller can cut the window at moments of its own.

When the pool runs out, `--cycle` starts over (fine for the ceilings, which do
not deduplicate); `--variants` makes every further pass distinct for the
bridge, which deduplicates by content: pass N rewrites each body's submission
id (or token id) to a UUID derived from N and the original, so submission
lifecycles stay whole, and re-encrypts the encrypted ones with `--api-key`.
That costs the load generator ~30 µs per body, far less than generating new
payloads. `--stop-on-full` ends the run at the first 503 `spool_full`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson

from bench.engine import Recorder, drive
from bench.stats import summarize
from bridge.crypto import decrypt, encrypt
from bridge.types import JSONObject, JSONValue

__all__ = ["main", "variant"]

_NAMESPACE = uuid.UUID("6f1c52de-5c8e-4a57-9f0e-0d7d1b3a6c11")
_ID_FIELDS = ("submission_id", "token_id", "auth_id")


def _swap_id(plain: bytes, number: int) -> bytes | None:
    """Replace the first submission (else token or auth) id in compact JSON; None if none."""
    for name in _ID_FIELDS:
        marker = b'"' + name.encode() + b'":"'
        at = plain.find(marker)
        if at < 0:
            continue
        begin = at + len(marker)
        end = plain.index(b'"', begin)
        old = plain[begin:end].decode()
        new = str(uuid.uuid5(_NAMESPACE, f"{number}:{old}")).encode()
        return plain[:begin] + new + plain[end:]
    return None


def variant(body: bytes, number: int, api_key: str | None) -> bytes:
    """
    Return pass `number` of `body` (compact JSON, as `bridge.commands.simulate`
    writes it): its submission id (else token or auth id) replaced by a UUID
    derived from `number` and the original, re-encrypted under `api_key` when
    `body` is ARGOS' encrypted envelope.

    Raises:
        ValueError: the body has no id to rewrite, or is encrypted and no key is given.
    """
    encrypted = body.startswith(b'{"data":"')
    if encrypted and api_key is None:
        raise ValueError("an encrypted payload needs --api-key to make variants")
    plain = decrypt(orjson.loads(body)["data"], [str(api_key)]) if encrypted else body
    swapped = _swap_id(plain, number)
    if swapped is None:
        raise ValueError("a payload has no submission, token or auth id")
    return orjson.dumps({"data": encrypt(swapped, str(api_key))}) if encrypted else swapped


class _Bodies:
    """Iterates the pool, then cycles it or makes variants of it; counts both."""

    def __init__(self, pool: list[bytes], *, cycle: bool, variants: bool, api_key: str | None):
        if not pool:
            raise ValueError("the payload pool is empty")
        self._pool = pool
        self._cycle = cycle
        self._variants = variants
        self._api_key = api_key
        self.index = 0
        self.reused = 0
        self.made = 0

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        passes, position = divmod(self.index, len(self._pool))
        self.index += 1
        body = self._pool[position]
        if passes == 0:
            return body
        if self._variants:
            self.made += 1
            return variant(body, passes, self._api_key)
        if not self._cycle:
            raise RuntimeError("payload pool exhausted (use --cycle or --variants)")
        self.reused += 1
        return body


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--url", required=True, help="full URL to POST to")
    parser.add_argument("--payloads", type=Path, required=True, help="one body per line")
    parser.add_argument("--out", type=Path, required=True, help="result JSON file")
    parser.add_argument("--ids-out", type=Path, help="write acknowledged event ids here")
    parser.add_argument("--samples-out", type=Path, help="write the measured requests here")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--rate", type=float, help="requests/s (open loop); default: saturate")
    parser.add_argument("--warmup", type=float, default=2.0, help="saturating warm-up seconds")
    reuse = parser.add_mutually_exclusive_group()
    reuse.add_argument("--cycle", action="store_true", help="reuse the pool when exhausted")
    reuse.add_argument("--variants", action="store_true", help="distinct variants of the pool")
    parser.add_argument("--api-key", help="re-encrypt variants of encrypted bodies with it")
    parser.add_argument("--stop-on-full", action="store_true", help="stop at 503 spool_full")
    return parser


def _marker(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def _run(args: argparse.Namespace) -> JSONObject:
    pool = [line for line in args.payloads.read_bytes().split(b"\n") if line]
    bodies = _Bodies(pool, cycle=args.cycle, variants=args.variants, api_key=args.api_key)
    ids: list[str] = []
    warmup: Recorder | None = None
    if args.warmup > 0:
        warmup = await drive(
            args.url,
            bodies,
            rate=None,
            duration_s=args.warmup,
            concurrency=args.connections,
            stop_on_full=args.stop_on_full,
        )
        ids.extend(warmup.ids)
    finish = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, finish.set)
    _marker("measure-start")
    measured = await drive(
        args.url,
        bodies,
        rate=args.rate,
        duration_s=args.duration,
        concurrency=args.connections,
        stop_on_full=args.stop_on_full,
        stop=finish,
    )
    _marker("measure-end")
    ids.extend(measured.ids)
    if args.ids_out is not None:
        args.ids_out.write_text("".join(f"{i}\n" for i in ids))
    if args.samples_out is not None:
        measured.samples.dump(args.samples_out)
    result = summarize(measured.samples, elapsed_s=measured.elapsed_s)
    warm: JSONValue = None
    if warmup is not None:
        warm = summarize(warmup.samples, elapsed_s=warmup.elapsed_s)
    result |= {
        "mode": "fixed-rate" if args.rate else "saturating",
        "rate": args.rate,
        "connections": args.connections,
        "error_kinds": dict(measured.error_kinds),
        "spool_full": measured.spool_full,
        "started_at": measured.started_at,
        "pool": len(pool),
        "pool_reused": bodies.reused,
        "variants": bodies.made,
        "acked_ids": len(ids),
        "warmup": warm,
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
