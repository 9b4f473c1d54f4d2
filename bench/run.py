"""
End-to-end benchmark of the bridge against a real local Kafka broker.

    python -m bench.run [--duration 20] [--rate 1000] [--connections 64] [--quick]

One broker (KRaft, 1 GB heap, 6-partition topics) serves the whole run. Every
scenario drives its target with `bench.loadgen` in a separate process, using
the same pool of `bridge.commands.simulate` payloads (mixed triggers, 1-3 KB, ~30%
encrypted):

1. saturating (`--connections` keep-alive connections) and
2. fixed-rate (`--rate` req/s, open loop) against the bridge (production
   settings: acks=all, idempotence, INFO logs to a file) and the two ceilings
   of `bench.ceilings` (bare HTTP; HTTP + Kafka pass-through);
3. spooled: broker stopped, bridge with BRIDGE_PUBLISH_DEADLINE_MS=1 (answer
   202 as soon as the event is fsynced; with the default deadline every
   request would wait 2 s for Kafka first), then the broker is restarted and
   the spool must drain.

Server CPU (user+sys / wall) and peak RSS are sampled with psutil every 100 ms
over the measured window. After each bridge run the topic is read back and
every 2xx-acknowledged event id must be there (by `ce_id` header); any loss
makes the exit status 1. Progress goes to stderr, the Markdown report to
stdout, everything to `bench/results/latest.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import orjson
import psutil
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bridge.commands.simulate import webhooks
from bridge.types import JSONObject, JSONValue
from tests.support.bridge_proc import free_port
from tests.support.broker import Broker, BrokerPool, ensure_libs

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
API_KEY = "kyc-bench-argos-api-key-7f3a1c"
PARTITIONS = 6


def say(message: str) -> None:
    """Progress on stderr (stdout is the report)."""
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- processes


@dataclass
class Server:
    """A server child process (bridge or ceiling) listening on `port`."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, bytes]:
        """GET `path`; (0, b"") when it does not answer."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (OSError, urllib.error.URLError):
            return 0, b""

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name} exited early:\n{tail}")
            if self.get("/livez")[0] == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:g}s; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _spawn(name: str, cmd: list[str], env: dict[str, str], log_path: Path, port: int) -> Server:
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
        )
    server = Server(name, process, port, log_path)
    server.wait_ready()
    return server


def _base_env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


def start_bridge(
    work: Path, run: str, bootstrap: str, topic: str, token: str, deadline_ms: int | None = None
) -> Server:
    """`kyc-bridge serve` with production settings, a fresh spool, INFO logs to a file."""
    port = free_port()
    env = _base_env() | {
        "BRIDGE_HTTP_HOST": "127.0.0.1",
        "BRIDGE_HTTP_PORT": str(port),
        "BRIDGE_SPOOL_DIR": str(work / f"spool-{run}"),
        "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "BRIDGE_TOPIC": topic,
        "BRIDGE_DLQ_TOPIC": f"{topic}.dlq",
        "BRIDGE_AUTH_TOKENS": token,
        "BRIDGE_ARGOS_API_KEYS": API_KEY,
        "BRIDGE_LOG_LEVEL": "INFO",
    }
    if deadline_ms is not None:
        env["BRIDGE_PUBLISH_DEADLINE_MS"] = str(deadline_ms)
    cmd = [sys.executable, "-m", "bridge", "serve"]
    return _spawn("bridge", cmd, env, work / f"bridge-{run}.log", port)


def start_ceiling(work: Path, kind: str, bootstrap: str, topic: str) -> Server:
    """`python -m bench.ceilings KIND` on a free port."""
    port = free_port()
    cmd = [sys.executable, "-m", "bench.ceilings", kind, "--port", str(port)]
    cmd += ["--bootstrap", bootstrap, "--topic", topic]
    return _spawn(kind, cmd, _base_env(), work / f"{kind}.log", port)


class Sampler(threading.Thread):
    """CPU seconds (user+sys) and peak RSS of some processes, sampled every 100 ms."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        super().__init__(daemon=True)
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items() if pid}
        self._cpu0 = {name: self._cpu(p) for name, p in self._procs.items()}
        self._peak = dict.fromkeys(self._procs, 0)
        self._halt = threading.Event()
        self._t0 = time.perf_counter()
        self.start()

    @staticmethod
    def _cpu(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)

    def run(self) -> None:
        while not self._halt.wait(0.1):
            for name, process in self._procs.items():
                with contextlib.suppress(psutil.Error):
                    self._peak[name] = max(self._peak[name], process.memory_info().rss)

    def finish(self) -> dict[str, JSONObject]:
        """Stop sampling; cores used and peak RSS (MB) per process name."""
        wall = time.perf_counter() - self._t0
        self._halt.set()
        self.join()
        return {
            name: {
                "cpu_cores": round((self._cpu(p) - self._cpu0[name]) / wall, 2),
                "peak_rss_mb": round(self._peak[name] / 2**20, 1),
            }
            for name, p in self._procs.items()
        }


# --------------------------------------------------------------------------- load


@dataclass
class Options:
    duration: float
    rate: float
    connections: int
    warmup: float
    pool_rate: int
    profile: bool
    keep: bool


@dataclass
class Context:
    options: Options
    work: Path
    broker: Broker
    pool_path: Path
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))


def run_load(ctx: Context, server: Server, run: str, *, rate: float | None) -> JSONObject:
    """One loadgen process against `server`; its result plus server/broker/client usage."""
    opts = ctx.options
    out, ids = ctx.work / f"{run}.json", ctx.work / f"{run}.ids"
    bridge = server.name == "bridge"
    cmd = [sys.executable, "-m", "bench.loadgen", "--payloads", str(ctx.pool_path)]
    cmd += ["--url", f"{server.url}/webhooks/argos/{ctx.token}", "--out", str(out)]
    cmd += ["--ids-out", str(ids), "--connections", str(opts.connections)]
    cmd += ["--duration", str(opts.duration), "--warmup", str(opts.warmup)]
    cmd += ["--rate", str(rate)] if rate else []
    cmd += ["--variants", "--api-key", API_KEY] if bridge else ["--cycle"]
    mode = f"{rate:g} req/s" if rate else "saturating"
    say(f"{run}: {mode}, {opts.connections} connections")
    client = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=REPO)
    assert client.stdout is not None
    sampler: Sampler | None = None
    usage: dict[str, JSONObject] = {}
    profiler: subprocess.Popen[bytes] | None = None
    try:
        for line in client.stdout:
            if line.strip() == b"measure-start":
                pids = {"server": server.process.pid, "broker": ctx.broker.pid}
                sampler = Sampler(pids | {"client": client.pid})
                if bridge and rate is None and opts.profile:
                    profiler = start_profiler(server.process.pid, opts.duration, run)
            elif line.strip() == b"measure-end" and sampler is not None:
                usage = sampler.finish()
        if client.wait() != 0:
            raise RuntimeError(f"loadgen failed for {run} (exit {client.returncode})")
        if profiler is not None:
            profiler.wait(timeout=60)
    finally:
        for child in (client, profiler):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait()
    result: JSONObject = orjson.loads(out.read_bytes())
    profile = profile_path(run)
    if profiler is not None and profile.exists():
        result["profile"] = summarize_profile(profile) | {"file": str(profile)}
    result["usage"] = dict(usage)
    result["ids_file"] = str(ids)
    return result


def profile_path(run: str) -> Path:
    """Where py-spy's collapsed stacks go (outside the repo: they are not git-ignored)."""
    return Path(tempfile.gettempdir()) / f"kyc-bridge-profile-{run}.txt"


def start_profiler(pid: int, duration: float, run: str) -> subprocess.Popen[bytes] | None:
    """py-spy (if installed) on `pid` for the measured window; collapsed stacks to results."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        say("--profile: py-spy not installed (pip install py-spy); not profiling")
        return None
    out = profile_path(run)
    cmd = [py_spy, "record", "--pid", str(pid), "--duration", str(int(duration))]
    # --gil: only the thread holding the GIL (what the event loop waits for). --nonblocking:
    # pausing the process to sample skews samples toward syscalls on this kind of VM.
    cmd += ["--rate", "100", "--gil", "--nonblocking", "--format", "raw", "-o", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frame_parts(frame: str) -> tuple[str, str]:
    """`func (path/file.py:123)` -> (`func (path/file.py)`, module group)."""
    name, _, where = frame.rpartition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    group = path if path.startswith("bridge/") else path.split("/", 1)[0]
    return f"{name} ({path})", group


def summarize_profile(path: Path, top: int = 10) -> JSONObject:
    """Self and inclusive sample shares from py-spy's collapsed (`raw`) stacks."""
    own: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame_parts(f) for f in stack.split(";")]
        own[frames[-1][0]] += count
        groups[frames[-1][1]] += count
        for function in {f for f, _ in frames}:
            inclusive[function] += count

    def share(counter: Counter[str], n: int) -> list[JSONValue]:
        return [[k, round(100 * v / total, 1)] for k, v in counter.most_common(n)] if total else []

    return {
        "samples": total,
        "self_pct": share(own, top),
        "self_by_module_pct": share(groups, top),
        "inclusive_pct": share(inclusive, 3 * top),
    }


# --------------------------------------------------------------------------- loss check


async def topic_ids(bootstrap: str, topic: str) -> Counter[str]:
    """Every record's `ce_id` header on `topic`, read from the start to the current end."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,  # no group: every partition is assigned, nothing is committed
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=64 * 2**20,
        max_partition_fetch_bytes=16 * 2**20,
    )
    await consumer.start()
    found: Counter[str] = Counter()
    try:
        for _ in range(100):
            if consumer.assignment():
                break
            await asyncio.sleep(0.1)
        parts = list(consumer.assignment())
        ends: dict[TopicPartition, int] = await consumer.end_offsets(parts)
        deadline = time.monotonic() + 120

        async def behind() -> bool:
            for tp, end in ends.items():
                if await consumer.position(tp) < end:
                    return True
            return False

        while await behind():
            if time.monotonic() > deadline:
                raise RuntimeError(f"reading {topic} back took more than 120 s")
            batches = await consumer.getmany(timeout_ms=500, max_records=20_000)
            for records in batches.values():
                for record in records:
                    headers = dict(record.headers)
                    found[bytes(headers.get("ce_id", b"")).decode()] += 1
    finally:
        await consumer.stop()
    return found


def spool_events(server: Server) -> int | None:
    """Pending spool events from /readyz, None if unreadable."""
    status, body = server.get("/readyz")
    if status == 0:
        return None
    spool = orjson.loads(body).get("spool", {})
    return int(spool.get("events", 0)) if isinstance(spool, dict) else None


def wait_drained(server: Server, timeout: float) -> list[tuple[float, int]]:
    """Poll the spool until empty; the (seconds, pending events) timeline."""
    started, timeline = time.monotonic(), []
    while time.monotonic() - started < timeout:
        pending = spool_events(server)
        if pending is not None:
            timeline.append((round(time.monotonic() - started, 2), pending))
            if pending == 0:
                break
        time.sleep(0.25)
    return timeline


def loss_check(ctx: Context, topic: str, ids_file: str) -> JSONObject:
    """Every acknowledged event id must be on `topic`."""
    acked = set(Path(ids_file).read_text().split())
    on_topic = asyncio.run(topic_ids(ctx.broker.bootstrap, topic))
    missing = acked - on_topic.keys()
    duplicates = sum(n - 1 for n in on_topic.values() if n > 1)
    status = "PASS" if not missing else "FAIL"
    sample: list[JSONValue] = []
    sample.extend(sorted(missing)[:10])
    say(f"loss check {topic}: {status} ({len(acked)} acked, {len(on_topic)} on topic)")
    return {
        "status": status,
        "acked": len(acked),
        "records_on_topic": sum(on_topic.values()),
        "distinct_on_topic": len(on_topic),
        "missing": len(missing),
        "missing_sample": sample,
        "duplicates": duplicates,
    }


# --------------------------------------------------------------------------- scenarios


def bridge_run(ctx: Context, scenario: str, *, rate: float | None) -> JSONObject:
    """A fresh bridge (own spool and topic) under load, drained, then loss-checked."""
    topic = f"kyc.bench.{scenario}"
    server = start_bridge(ctx.work, scenario, ctx.broker.bootstrap, topic, ctx.token)
    try:
        result = run_load(ctx, server, f"{scenario}-bridge", rate=rate)
        result["drain_timeline"] = [list(p) for p in wait_drained(server, 120)[-3:]]
    finally:
        server.stop()
    result["loss"] = loss_check(ctx, topic, str(result["ids_file"]))
    return result


def ceiling_run(ctx: Context, kind: str, scenario: str, *, rate: float | None) -> JSONObject:
    """A fresh ceiling process (bare or passthrough) under load."""
    server = start_ceiling(ctx.work, kind, ctx.broker.bootstrap, "kyc.bench.passthrough")
    try:
        return run_load(ctx, server, f"{scenario}-{kind}", rate=rate)
    finally:
        server.stop()


def spooled_run(ctx: Context) -> JSONObject:
    """Kafka down, answer on fsync (deadline 1 ms); then restart Kafka and drain."""
    topic = "kyc.bench.spooled"
    say("spooled: stopping the broker")
    ctx.broker.stop()
    server = start_bridge(ctx.work, "spooled", ctx.broker.bootstrap, topic, ctx.token, 1)
    try:
        result = run_load(ctx, server, "spooled-bridge", rate=None)
        pending = spool_events(server) or 0
        say(f"spooled: {pending} events in the spool; restarting the broker")
        ctx.broker.start()
        timeline = wait_drained(server, 180)
        drained = timeline[-1][1] == 0 if timeline else False
        moving = [t for t, n in timeline if n < pending] or [0.0]
        seconds = timeline[-1][0] - moving[0] if drained and len(timeline) > 1 else None
        result["drain"] = {
            "spooled_events": pending,
            "drained": drained,
            "seconds_until_empty": timeline[-1][0] if timeline else None,
            "drain_rate_eps": round(pending / seconds, 1) if seconds else None,
        }
        say(f"spooled: drain {result['drain']}")
    finally:
        server.stop()
    result["loss"] = loss_check(ctx, topic, str(result["ids_file"]))
    return result


def generate_pool(path: Path, count: int, done: threading.Event) -> None:
    """`count` bodies from `bridge.commands.simulate`, one per line (30% encrypted)."""
    stream = webhooks(7, encrypt_with=API_KEY, encrypted_share=0.3)
    path.write_bytes(b"\n".join(w.body for w in itertools.islice(stream, count)))
    done.set()


# --------------------------------------------------------------------------- report


def machine_info(libdir: Path) -> JSONObject:
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


def _num(value: JSONValue, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, int | float) else "-"


def _usage(run: JSONObject, who: str, key: str) -> JSONValue:
    usage = run.get("usage")
    entry = usage.get(who) if isinstance(usage, dict) else None
    return entry.get(key) if isinstance(entry, dict) else None


def render(runs: dict[str, JSONObject], info: JSONObject, options: Options) -> str:
    head = "| scenario | target | req/s | p50 ms | p95 ms | p99 ms | max ms | errors / non-2xx "
    head += "| CPU cores | peak RSS MB | loss check | broker CPU | loadgen CPU |"
    lines = [f"## kyc-bridge benchmark ({time.strftime('%Y-%m-%d %H:%M')})", "", head]
    lines.append("|" + "---|" * 13)
    for name, run in runs.items():
        scenario, target = name.rsplit("-", 1)
        loss = run.get("loss")
        check = str(loss.get("status")) if isinstance(loss, dict) else "n/a"
        row = [scenario, target, _num(run.get("throughput_rps"), 0)]
        row += [_num(run.get(k), 2) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")]
        row += [f"{run.get('errors')} / {run.get('non_2xx')}"]
        row += [_num(_usage(run, "server", "cpu_cores"), 2)]
        row += [_num(_usage(run, "server", "peak_rss_mb")), check]
        row += [
            _num(_usage(run, "broker", "cpu_cores"), 2),
            _num(_usage(run, "client", "cpu_cores"), 2),
        ]
        lines.append("| " + " | ".join(row) + " |")

    def rps(name: str) -> float:
        value = runs.get(name, {}).get("throughput_rps")
        return float(value) if isinstance(value, int | float) else 0.0

    bridge, bare, passthrough = (rps(f"saturating-{t}") for t in ("bridge", "bare", "passthrough"))
    lines += ["", "Saturating run, bridge req/s as a share of the ceilings:"]
    lines.append(f"- bridge / bare HTTP = {bridge / bare:.2f}" if bare else "- bare: no data")
    if passthrough:
        lines.append(f"- bridge / pass-through (HTTP + Kafka) = {bridge / passthrough:.2f}")
    spooled = runs.get("spooled-bridge", {})
    drain = spooled.get("drain")
    if isinstance(drain, dict):
        lines.append(
            f"- spool drain after the broker restart: {drain.get('spooled_events')} events, "
            f"{drain.get('seconds_until_empty')} s, {drain.get('drain_rate_eps')} events/s"
        )
    fixed = runs.get("fixed-bridge", {})
    rss = [_usage(r, "server", "peak_rss_mb") for n, r in runs.items() if n.endswith("-bridge")]
    peak = max((float(v) for v in rss if isinstance(v, int | float)), default=0.0)
    p99 = fixed.get("p99_ms")
    targets = [
        ("bridge >= 0.5x pass-through", passthrough > 0 and bridge / passthrough >= 0.5),
        (">= 5,000 webhooks/s (saturating)", bridge >= 5000),
        (f"p99 <= 15 ms at {options.rate:g} req/s", isinstance(p99, float) and p99 <= 15),
        (">= 3,000 webhooks/s spooled", rps("spooled-bridge") >= 3000),
        ("peak RSS <= 150 MB", 0 < peak <= 150),
    ]
    lines += ["", "Targets: " + "; ".join(f"{t} {'MET' if ok else 'MISSED'}" for t, ok in targets)]
    profile = runs.get("saturating-bridge", {}).get("profile")
    entries = profile.get("self_pct") if isinstance(profile, dict) else None
    if isinstance(profile, dict) and isinstance(entries, list):
        lines += ["", f"Bridge profile, saturating (py-spy --gil, {profile['samples']} samples):"]
        lines += [f"- {e[0]}: {e[1]}% self" for e in entries if isinstance(e, list) and len(e) == 2]
    lines += [
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['memory_gb']} GB, "
        f"Python {info['python']}, {info['kafka_jar']}; loadgen, bridge and broker share it.",
        f"Code: commit {info['commit']}, uncommitted in bridge/: {info['bridge_uncommitted']}",
        f"Runs: {options.duration:g} s measured after {options.warmup:g} s warm-up; "
        f"{options.connections} connections; payloads 1-3 KB, ~30% encrypted, mixed triggers.",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


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
    parser.add_argument("--quick", action="store_true", help="5 s runs, 1 s warm-up (~1.5 min)")
    parser.add_argument(
        "--pool-rate",
        type=int,
        default=4000,
        help="pre-generate duration x this many payloads (beyond: generated live)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the saturated bridge")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, spools)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run every scenario; print the report; exit 1 on any lost event."""
    args = _parser().parse_args(argv)
    options = Options(
        duration=args.duration or (5.0 if args.quick else 20.0),
        rate=args.rate,
        connections=args.connections,
        warmup=1.0 if args.quick else 2.0,
        pool_rate=args.pool_rate,
        profile=args.profile,
        keep=args.keep,
    )
    started = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kyc-bench-"))
    libdir = ensure_libs()
    info = machine_info(libdir)
    pool_path, pool_ready = work / "payloads.jsonl", threading.Event()
    pool_size = int((options.duration + options.warmup) * options.pool_rate)
    say(f"work dir {work}; generating {pool_size} payloads while the broker starts")
    threading.Thread(target=generate_pool, args=(pool_path, pool_size, pool_ready)).start()
    runs: dict[str, JSONObject] = {}
    try:
        with BrokerPool(work / "kafka") as pool:
            broker = pool.start("bench", heap_mb=1024, extra_overrides={"num.partitions": "6"})
            say(f"broker up on {broker.bootstrap}")
            topics = ["saturating", "fixed", "spooled"]
            for topic in ["kyc.bench.passthrough", *(f"kyc.bench.{t}" for t in topics)]:
                broker.create_topic(topic, PARTITIONS)
                broker.create_topic(f"{topic}.dlq", PARTITIONS)
            pool_ready.wait()
            ctx = Context(options, work, broker, pool_path)
            for scenario, rate in (("saturating", None), ("fixed", options.rate)):
                for kind in ("bare", "passthrough"):
                    runs[f"{scenario}-{kind}"] = ceiling_run(ctx, kind, scenario, rate=rate)
                runs[f"{scenario}-bridge"] = bridge_run(ctx, scenario, rate=rate)
            runs["spooled-bridge"] = spooled_run(ctx)
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    report = render(runs, info, options)
    sys.stdout.write(report)
    losses: list[JSONValue] = [name for name, run in runs.items() if _lost(run)]
    document: JSONObject = {
        "machine": info,
        "options": {k: v for k, v in vars(options).items() if isinstance(v, int | float | bool)},
        "runs": dict(runs),
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
