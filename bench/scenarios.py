"""
The benchmark's scenarios. Each drives one server with `bench.loadgen` in a
separate process, samples the server (with its children), the broker and the
load generator over the measured window, and returns one JSON result:

- `ceiling_run`: a `bench.ceilings` server (bare HTTP or HTTP + Kafka);
- `bridge_run`: a fresh bridge (own spool and topics), clear or personal-data
  encrypt mode, drained and loss-checked;
- `outage_run`: default settings, the broker stopped a third into the measured
  run, then restarted; whole run, before and after the stop, drain, loss check;
- `fill_run`: the spool filled to its cap with the broker stopped, the bridge
  restarted on that spool, then the broker started and the spool drained.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import orjson

from bench.loss import drain_summary, loss_check, wait_drained
from bench.procs import (
    API_KEY,
    REPO,
    Sampler,
    Server,
    say,
    start_bridge,
    start_ceiling,
    usage_json,
)
from bench.profiling import profile_path, start_profiler, summarize_profile, write_profile_table
from bench.stats import Samples, summarize
from bridge.types import JSONObject, JSONValue
from tests.support.broker import Broker

__all__ = [
    "Context",
    "Load",
    "Options",
    "PiiMode",
    "bridge_run",
    "ceiling_run",
    "outage_run",
    "outage_windows",
    "run_load",
]

PiiMode = Literal["clear", "encrypt"]


@dataclass(frozen=True, slots=True)
class Options:
    """The command line, resolved."""

    duration: float
    rate: float
    connections: int
    warmup: float
    pool_rate: int
    profile: bool
    keep: bool
    quick: bool
    fill: bool
    #: BRIDGE_SPOOL_MAX_BYTES of the fill scenario (None: the default cap)
    fill_max_bytes: int | None
    fill_timeout: float
    results: Path


@dataclass
class Context:
    """What every scenario shares: options, work dir, the one broker, payloads, secrets."""

    options: Options
    work: Path
    broker: Broker
    pool_path: Path
    kek_file: Path
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))


@dataclass(frozen=True, slots=True)
class Load:
    """One load generator run: fixed `rate` (None: saturating) and overrides of the options."""

    rate: float | None = None
    duration: float | None = None
    connections: int | None = None
    warmup: float | None = None
    stop_on_full: bool = False
    profile: bool = False


#: called once the measured window starts, with its sampler and a function that ends it
OnMeasure = Callable[[Sampler, Callable[[], None]], None]


def run_load(
    ctx: Context, server: Server, run: str, load: Load, on_measure: OnMeasure | None = None
) -> JSONObject:
    """
    Run one loadgen process against `server`; return its result plus the usage of
    server, broker and loadgen, and the server's CPU per answered webhook.

    Raises:
        RuntimeError: the load generator failed.
    """
    opts = ctx.options
    duration = load.duration or opts.duration
    connections = load.connections or opts.connections
    warmup = opts.warmup if load.warmup is None else load.warmup
    out, ids, samples = (ctx.work / f"{run}.{ext}" for ext in ("json", "ids", "samples"))
    cmd = [sys.executable, "-m", "bench.loadgen", "--payloads", str(ctx.pool_path)]
    cmd += ["--url", f"{server.url}/webhooks/argos/{ctx.token}", "--out", str(out)]
    cmd += ["--ids-out", str(ids), "--samples-out", str(samples)]
    cmd += ["--connections", str(connections), "--duration", str(duration)]
    cmd += ["--warmup", str(warmup)]
    cmd += ["--rate", str(load.rate)] if load.rate else []
    cmd += ["--stop-on-full"] if load.stop_on_full else []
    bridge = server.name == "bridge"
    cmd += ["--variants", "--api-key", API_KEY] if bridge else ["--cycle"]
    mode = f"{load.rate:g} req/s" if load.rate else "saturating"
    say(f"{run}: {mode}, {connections} connections")
    client = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=REPO)
    assert client.stdout is not None
    sampler: Sampler | None = None
    usage: JSONObject = {}
    profiler: subprocess.Popen[bytes] | None = None
    try:
        for line in client.stdout:
            if line.strip() == b"measure-start":
                pids = {"server": server.process.pid, "broker": ctx.broker.pid}
                sampler = Sampler(pids | {"client": client.pid})
                if load.profile and opts.profile:
                    profiler = start_profiler(server.process.pid, duration, run)
                if on_measure is not None:
                    on_measure(sampler, lambda: client.send_signal(signal.SIGUSR1))
            elif line.strip() == b"measure-end" and sampler is not None:
                usage = usage_json(sampler.finish())
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
    if profiler is not None and profile_path(run).exists():
        summary = summarize_profile(profile_path(run))
        table = opts.results / f"profile-{run}.txt"
        write_profile_table(summary, table, f"Bridge profile, {run}")
        result["profile"] = summary | {"stacks": str(profile_path(run)), "table": str(table)}
        say(f"{run}: profile table in {table}")
    result["usage"] = usage
    result["cpu_us_per_webhook"] = cpu_per_webhook(usage, result.get("answered"))
    result["ids_file"] = str(ids)
    result["samples_file"] = str(samples)
    return result


def cpu_per_webhook(usage: JSONObject, answered: JSONValue) -> float | None:
    """Return server CPU-seconds / answered webhooks in µs (None without data)."""
    server = usage.get("server")
    seconds = server.get("cpu_seconds") if isinstance(server, dict) else None
    if not isinstance(seconds, int | float) or not isinstance(answered, int) or answered <= 0:
        return None
    return round(seconds / answered * 1e6, 1)


def _labelled(result: JSONObject, scenario: str, target: str) -> JSONObject:
    return {"scenario": scenario, "target": target} | result


def _bridge_env(ctx: Context, pii: PiiMode) -> dict[str, str]:
    if pii == "clear":
        return {}
    return {"BRIDGE_PII_PROTECTION": pii, "BRIDGE_PII_KEK_FILE": str(ctx.kek_file)}


def bridge_run(ctx: Context, scenario: str, *, rate: float | None, pii: PiiMode) -> JSONObject:
    """Run a fresh bridge (own spool and topics) under load, drained, then loss-checked."""
    target = "bridge" if pii == "clear" else "encrypt"
    run = f"{scenario}-{target}"
    topic = f"kyc.bench.{run}"
    server = start_bridge(
        ctx.work,
        run,
        bootstrap=ctx.broker.bootstrap,
        topic=topic,
        token=ctx.token,
        env=_bridge_env(ctx, pii),
    )
    try:
        result = run_load(ctx, server, run, Load(rate=rate, profile=rate is None))
        result["drain_timeline"] = [list(p) for p in wait_drained(server, 120)[-3:]]
    finally:
        server.stop()
    result["loss"] = loss_check(ctx.broker.bootstrap, topic, Path(str(result["ids_file"])))
    return _labelled(result, scenario, target)


def ceiling_run(ctx: Context, kind: str, scenario: str, *, rate: float | None) -> JSONObject:
    """Run a fresh ceiling process (bare or passthrough) under load."""
    server = start_ceiling(ctx.work, kind, ctx.broker.bootstrap, "kyc.bench.passthrough")
    try:
        result = run_load(ctx, server, f"{scenario}-{kind}", Load(rate=rate))
    finally:
        server.stop()
    return _labelled(result, scenario, kind)


def outage_windows(options: Options) -> tuple[float, float]:
    """Return the outage run's seconds before the broker stop and after it has stopped."""
    total = max(15.0, 1.5 * options.duration)
    return total / 3, 2 * total / 3


def outage_run(ctx: Context) -> JSONObject:
    """
    Saturate a bridge with default settings; a third into the measured run,
    stop the broker (kafkactl's stop, from a thread); once it has stopped, keep
    the load on for twice as long again. Report the whole run and its parts:
    before the stop, during the broker's shutdown, and after it (broker down);
    then restart the broker and drain.
    """
    scenario, topic = "spooled", "kyc.bench.spooled"
    before, after = outage_windows(ctx.options)
    marks: dict[str, float] = {}

    def stop_broker(sampler: Sampler, finish: Callable[[], None]) -> None:
        def later() -> None:
            time.sleep(before)
            marks["stop_begin"] = time.monotonic()
            say(f"{scenario}: stopping the broker mid-run")
            ctx.broker.stop()
            marks["stop_end"] = time.monotonic()
            marks["cpu_at_stop_end"] = sampler.cpu_seconds("server")
            say(f"{scenario}: broker stopped in {marks['stop_end'] - marks['stop_begin']:.1f} s")
            time.sleep(after)
            marks["finish"] = time.monotonic()
            finish()

        threading.Thread(target=later, name="broker-stopper", daemon=True).start()

    server = start_bridge(
        ctx.work, scenario, bootstrap=ctx.broker.bootstrap, topic=topic, token=ctx.token
    )
    try:
        load = Load(duration=before + after + 180)  # ended by `finish` once `after` is over
        result = run_load(ctx, server, f"{scenario}-bridge", load, stop_broker)
        result["outage"] = _outage_windows(result, marks)
        pending = (server.spool() or (0, 0))[0]
        say(f"{scenario}: {pending} events in the spool; restarting the broker")
        ctx.broker.start()
        result["drain"] = drain_summary(wait_drained(server, 300), pending)
        say(f"{scenario}: drain {result['drain']}")
    finally:
        server.stop()
        if ctx.broker.pid is None:
            ctx.broker.start()
    result["loss"] = loss_check(ctx.broker.bootstrap, topic, Path(str(result["ids_file"])))
    return _labelled(result, scenario, "bridge")


def _outage_windows(result: JSONObject, marks: dict[str, float]) -> JSONObject:
    """The measured run cut at the broker stop: before, during and after it."""
    started = result.get("started_at")
    if not isinstance(started, float) or "finish" not in marks:
        return {"error": "the broker was not stopped inside the measured run"}
    samples = Samples.load(Path(str(result["samples_file"])))
    stop_begin, stop_end, end = marks["stop_begin"], marks["stop_end"], marks["finish"]
    after = summarize(samples, start=stop_end, end=end)
    usage = result.get("usage")
    server = usage.get("server") if isinstance(usage, dict) else None
    total = server.get("cpu_seconds") if isinstance(server, dict) else None
    answered = after.get("answered")
    if isinstance(total, int | float) and isinstance(answered, int) and answered > 0:
        # the sampler ran until measure-end, a moment after `end` (in-flight requests)
        after_cpu = float(total) - marks["cpu_at_stop_end"]
        after["cpu_us_per_webhook"] = round(after_cpu / answered * 1e6, 1)
        after["cpu_cores"] = round(after_cpu / max(1e-9, end - stop_end), 2)
    return {
        "stop_after_s": round(stop_begin - started, 2),
        "broker_stop_s": round(stop_end - stop_begin, 2),
        "before_stop": summarize(samples, start=started, end=stop_begin),
        "during_stop": summarize(samples, start=stop_begin, end=stop_end),
        "after_stop": after,
    }
