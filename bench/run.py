"""
End-to-end benchmark of the bridge against a real local Kafka broker.

    python -m bench.run [--duration 20] [--rate 1000] [--connections 64]
                        [--quick] [--skip-fill] [--profile] [--keep] [--only RUNS]

One broker (KRaft, 1 GB heap, 6-partition topics) serves the whole run. Every
scenario drives its target with `bench.loadgen` in a separate process, using
the same pool of `bridge.commands.simulate` payloads (mixed triggers, 1-3 KB,
~30% encrypted; distinct variants of it once it runs out):

1. saturating (`--connections` keep-alive connections) and
2. fixed-rate (`--rate` req/s, open loop) against the bridge (production
   settings: acks=all, idempotence, INFO logs to a file), the bridge with
   personal-data encryption (BRIDGE_PII_PROTECTION=encrypt, a JWK Set KEK
   file) and the two ceilings of `bench.ceilings` (bare HTTP; HTTP + Kafka
   pass-through);
3. spooled (outage): default settings, the broker stopped a third into the
   measured run, reported whole, before and after the stop; then the broker
   is restarted and the spool must drain;
4. fill (unless `--skip-fill`): the spool filled to its cap with the broker
   down, the bridge restarted on it, the broker started, the spool drained.

Server CPU (user+sys of the process and its children) and RSS are sampled
with psutil every 100 ms over the measured window; CPU per webhook is server
CPU-seconds / answered webhooks. After each bridge run the topic is read back
and every 2xx-acknowledged event id must be there (by `ce_id` header); any
loss makes the exit status 1. Progress goes to stderr, the Markdown report
(with MET / MISSED for every issue-14 target) to stdout, everything to
`bench/results/latest.json`.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import itertools
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from importlib import metadata
from pathlib import Path

import orjson
import psutil

from bench.fill import fill_run
from bench.procs import API_KEY, REPO, say
from bench.report import comparisons, render, targets
from bench.scenarios import Context, Options, PiiMode, bridge_run, ceiling_run, outage_run
from bridge.commands.simulate import webhooks
from bridge.types import JSONObject, JSONValue
from tests.support.broker import BrokerPool, ensure_libs

__all__ = ["main"]

RESULTS = REPO / "bench" / "results"
PARTITIONS = 6
QUICK_FILL_BYTES = 64 * 2**20


def generate_pool(path: Path, count: int, done: threading.Event) -> None:
    """Write `count` bodies from `bridge.commands.simulate`, one per line (30% encrypted)."""
    stream = webhooks(7, encrypt_with=API_KEY, encrypted_share=0.3)
    path.write_bytes(b"\n".join(w.body for w in itertools.islice(stream, count)))
    done.set()


def write_kek(path: Path) -> None:
    """Write a JWK Set with one fresh 256-bit oct key-encryption key (`bench-kek`)."""
    k = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    path.write_bytes(orjson.dumps({"keys": [{"kty": "oct", "kid": "bench-kek", "k": k}]}))
    path.chmod(0o600)


def machine_info(libdir: Path) -> JSONObject:
    """Return the machine, versions and commit this run measured."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    kafka = sorted(p.name for p in libdir.glob("kafka_2.13-*.jar"))
    git = ["git", "--no-optional-locks", "-C", str(REPO)]  # read-only: never touches the index
    commit = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True
    )
    status = subprocess.run(
        [*git, "status", "--porcelain", "--", "bridge"], check=False, capture_output=True, text=True
    )
    dirty: list[JSONValue] = [line[3:] for line in status.stdout.splitlines()]
    return {
        "commit": commit.stdout.strip() or None,
        "bridge_uncommitted": dirty,
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "kafka_jar": kafka[0] if kafka else None,
        "aiohttp": metadata.version("aiohttp"),
        "aiokafka": metadata.version("aiokafka"),
        "uvloop": metadata.version("uvloop"),
    }


def _lost(run: JSONObject) -> bool:
    loss = run.get("loss")
    return isinstance(loss, dict) and loss.get("status") != "PASS"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--duration", type=float, help="measured seconds per run (default 20)")
    parser.add_argument("--rate", type=float, default=1000.0, help="fixed-rate req/s (1000)")
    parser.add_argument("--connections", type=int, default=64, help="connections (64)")
    parser.add_argument(
        "--quick", action="store_true", help="5 s runs, 1 s warm-up, fill to a 64 MiB spool cap"
    )
    parser.add_argument("--skip-fill", action="store_true", help="leave out the spool fill")
    parser.add_argument(
        "--fill-max-bytes",
        type=int,
        help="BRIDGE_SPOOL_MAX_BYTES of the fill (default: the bridge's 1 GiB; --quick 64 MiB)",
    )
    parser.add_argument(
        "--fill-timeout", type=float, default=1800.0, help="give up filling after (1800) s"
    )
    parser.add_argument(
        "--pool-rate",
        type=int,
        default=4000,
        help="pre-generate duration x this many payloads (beyond: distinct variants)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the saturated bridge (clear and encrypt)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, spools)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated runs to do (e.g. saturating-bridge,spooled-bridge); default all",
    )
    return parser


def _options(args: argparse.Namespace) -> Options:
    return Options(
        duration=args.duration or (5.0 if args.quick else 20.0),
        rate=args.rate,
        connections=args.connections,
        warmup=1.0 if args.quick else 2.0,
        pool_rate=args.pool_rate,
        profile=args.profile,
        keep=args.keep,
        quick=args.quick,
        fill=not args.skip_fill,
        fill_max_bytes=args.fill_max_bytes or (QUICK_FILL_BYTES if args.quick else None),
        fill_timeout=args.fill_timeout,
        results=RESULTS,
    )


def _scenarios(ctx: Context, only: set[str]) -> dict[str, JSONObject]:
    plan: list[tuple[str, Callable[[], JSONObject]]] = []
    for scenario, rate in (("saturating", None), ("fixed", ctx.options.rate)):
        for kind in ("bare", "passthrough"):
            plan.append(
                (f"{scenario}-{kind}", partial(ceiling_run, ctx, kind, scenario, rate=rate))
            )
        modes: tuple[tuple[str, PiiMode], ...] = (("bridge", "clear"), ("encrypt", "encrypt"))
        for name, pii in modes:
            plan.append(
                (f"{scenario}-{name}", partial(bridge_run, ctx, scenario, rate=rate, pii=pii))
            )
    plan.append(("spooled-bridge", partial(outage_run, ctx)))
    if ctx.options.fill:
        plan.append(("fill-bridge", partial(fill_run, ctx)))
    return {name: run() for name, run in plan if not only or name in only}


def main(argv: list[str] | None = None) -> int:
    """Run every scenario; print the report; exit 1 on any lost event."""
    args = _parser().parse_args(argv)
    options = _options(args)
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    started = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kyc-bench-"))
    libdir = ensure_libs()
    info = machine_info(libdir)
    pool_path, pool_ready = work / "payloads.jsonl", threading.Event()
    pool_size = int((options.duration + options.warmup) * options.pool_rate)
    say(f"work dir {work}; generating {pool_size} payloads while the broker starts")
    threading.Thread(target=generate_pool, args=(pool_path, pool_size, pool_ready)).start()
    write_kek(work / "kek.jwks.json")
    runs: dict[str, JSONObject] = {}
    try:
        with BrokerPool(work / "kafka") as pool:
            broker = pool.start("bench", heap_mb=1024, extra_overrides={"num.partitions": "6"})
            say(f"broker up on {broker.bootstrap}")
            names = ["passthrough", "spooled", "fill"]
            names += [f"{s}-{t}" for s in ("saturating", "fixed") for t in ("bridge", "encrypt")]
            for topic in (f"kyc.bench.{n}" for n in names):
                broker.create_topic(topic, PARTITIONS)
                broker.create_topic(f"{topic}.dlq", PARTITIONS)
            pool_ready.wait()
            ctx = Context(options, work, broker, pool_path, work / "kek.jwks.json")
            runs = _scenarios(ctx, only)
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    found = targets(runs, options)
    sys.stdout.write(render(runs, found, info, options))
    losses: list[JSONValue] = [name for name, run in runs.items() if _lost(run)]
    document: JSONObject = {
        "machine": info,
        "options": {
            k: v for k, v in dataclasses.asdict(options).items() if isinstance(v, int | float)
        },
        "runs": dict(runs),
        "comparisons": comparisons(runs),
        "targets": [t.as_json() for t in found],
        "lost_in": losses,
        "total_seconds": round(time.monotonic() - started, 1),
    }
    (RESULTS / "latest.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    say(f"done in {document['total_seconds']} s; results in {RESULTS / 'latest.json'}")
    if losses:
        say(f"LOSS in {losses}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
