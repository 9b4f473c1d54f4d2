"""
The spool-capacity scenario: with the broker stopped, fill a bridge's spool to
its cap (the defaults, BRIDGE_SPOOL_MAX_EVENTS=1,000,000 and
BRIDGE_SPOOL_MAX_BYTES=1 GiB, or a smaller byte cap with `--quick`) as fast as
it takes webhooks, until it answers 503 `spool_full`; restart the bridge on
the same spool; start the broker and let it drain; then the loss check. RSS
(the process with its children) is sampled in every phase, and read at 25, 50,
75 and 100 % of the fill so that any growth with the backlog shows.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from bench.loss import drain_summary, loss_check
from bench.procs import Sampler, Server, say, start_bridge, tree_rss_mb, usage_json
from bench.scenarios import Context, Load, run_load
from bridge.config.settings import SpoolSettings
from bridge.types import JSONObject, JSONValue

__all__ = ["fill_run"]

_DEFAULTS = SpoolSettings()
_RUN, _TOPIC = "fill", "kyc.bench.fill"
_QUARTERS = (25, 50, 75, 100)


class _Progress(threading.Thread):
    """Polls the spool (/readyz) and the server's RSS every 0.5 s."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True, name="fill-progress")
        self._server = server
        self._halt = threading.Event()
        #: (seconds, events, bytes, RSS MB)
        self.points: list[tuple[float, int, int, float]] = []
        self._t0 = time.monotonic()
        self.start()

    def run(self) -> None:
        while not self._halt.wait(0.5):
            self.poll()

    def poll(self) -> None:
        spool = self._server.spool()
        rss = tree_rss_mb(self._server.process.pid)
        if spool is not None:
            self.points.append((round(time.monotonic() - self._t0, 2), *spool, round(rss, 1)))

    def finish(self) -> None:
        self._halt.set()
        self.join()
        self.poll()


def _quarters(
    points: list[tuple[float, int, int, float]], max_events: int, max_bytes: int
) -> JSONObject:
    """RSS at the first poll that reached 25/50/75 % of the cap, and at the end."""
    found: JSONObject = {}
    for quarter in _QUARTERS:
        reached = [p for p in points if max(p[1] / max_events, p[2] / max_bytes) >= quarter / 100]
        point = reached[0] if reached and quarter < 100 else (points[-1] if points else None)
        if point is not None:
            fraction = round(100 * max(point[1] / max_events, point[2] / max_bytes), 1)
            found[str(quarter)] = {"fill_pct": fraction, "events": point[1], "rss_mb": point[3]}
    return found


def _restart(ctx: Context, server: Server, env: dict[str, str]) -> tuple[Server, JSONObject]:
    """Stop the bridge, start it on the same spool, time its first /readyz answer."""
    began = time.monotonic()
    server.stop()
    stopped = time.monotonic()
    server = start_bridge(
        ctx.work,
        _RUN,
        bootstrap=ctx.broker.bootstrap,
        topic=_TOPIC,
        token=ctx.token,
        env=env,
        wait=False,
    )
    sampler = Sampler({"server": server.process.pid})
    status, answered_s, rss_now = 0, None, None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and server.process.poll() is None:
        status, body = server.readyz()
        if status != 0 and isinstance(body.get("spool"), dict):
            answered_s = round(time.monotonic() - stopped, 2)
            rss_now = round(sampler.rss_mb("server"), 1)
            break
        time.sleep(0.05)
    time.sleep(3.0)  # RSS right after the restart includes the first seconds of serving
    usage = sampler.finish()
    return server, {
        "stop_s": round(stopped - began, 2),
        "readyz_answer_after_s": answered_s,
        "readyz_status": status,
        "ready_200_after_s": answered_s if status == 200 else None,
        "rss_mb_at_first_answer": rss_now,
        "peak_rss_mb": round(usage["server"].peak_rss_mb, 1) if "server" in usage else None,
        "spool": list(server.spool() or ()),
    }


def _drain(server: Server, ctx: Context, pending: int) -> JSONObject:
    """Start the broker; time readiness and the drain; sample RSS meanwhile."""
    began = time.monotonic()
    ctx.broker.start()
    broker_up = time.monotonic()
    sampler = Sampler({"server": server.process.pid, "broker": ctx.broker.pid})
    ready_s: float | None = None
    timeline: list[tuple[float, int]] = []
    deadline = time.monotonic() + max(600.0, pending / 250)  # 1,000/s was seen on 2 cores
    while time.monotonic() < deadline:
        status, body = server.readyz()
        now = round(time.monotonic() - broker_up, 2)
        if status == 200 and ready_s is None:
            ready_s = now
        spool = body.get("spool")
        events = spool.get("events") if isinstance(spool, dict) else None
        if isinstance(events, int):
            timeline.append((now, events))
            if events == 0 and ready_s is not None:
                break
        time.sleep(0.25)
    usage = sampler.finish()
    return drain_summary(timeline, pending) | {
        "broker_start_s": round(broker_up - began, 2),
        "ready_200_after_broker_start_s": ready_s,
        "usage": usage_json(usage),
    }


def fill_run(ctx: Context) -> JSONObject:
    """Fill the spool to its cap with Kafka down, restart on it, drain it, loss-check it."""
    opts = ctx.options
    max_bytes = opts.fill_max_bytes or _DEFAULTS.max_bytes
    max_events = _DEFAULTS.max_events
    env = {"BRIDGE_SPOOL_MAX_BYTES": str(max_bytes)} if opts.fill_max_bytes else {}
    say(f"fill: stopping the broker; cap {max_events:,} events / {max_bytes / 2**20:,.0f} MiB")
    ctx.broker.stop()
    server = start_bridge(
        ctx.work, _RUN, bootstrap=ctx.broker.bootstrap, topic=_TOPIC, token=ctx.token, env=env
    )
    try:
        progress = _Progress(server)
        load = Load(
            duration=opts.fill_timeout,
            connections=max(128, opts.connections),
            warmup=0.0,
            stop_on_full=True,
        )
        try:
            result = run_load(ctx, server, "fill-bridge", load)
        finally:
            progress.finish()
        events, size = server.spool() or (0, 0)
        result["fill"] = {
            "max_events": max_events,
            "max_bytes": max_bytes,
            "events": events,
            "bytes": size,
            "spool_full": result.get("spool_full"),
            "fill_pct": round(100 * max(events / max_events, size / max_bytes), 1),
            "rss_at_fill_pct": _quarters(progress.points, max_events, max_bytes),
        }
        say(f"fill: {events:,} events, {size / 2**20:,.0f} MiB; restarting the bridge on it")
        server, result["restart"] = _restart(ctx, server, env)
        say(f"fill: restart {result['restart']}; starting the broker")
        result["drain"] = _drain(server, ctx, events)
        say(f"fill: drain {result['drain']}")
    finally:
        server.stop()
        if ctx.broker.pid is None:
            ctx.broker.start()
    result["loss"] = loss_check(ctx.broker.bootstrap, _TOPIC, Path(str(result["ids_file"])))
    return {"scenario": "fill", "target": "bridge"} | result


def peak_rss(result: JSONObject) -> list[JSONValue]:
    """Return the fill's peak RSS per phase: [spooling, after restart, draining] (MB)."""
    usage = result.get("usage")
    server = usage.get("server") if isinstance(usage, dict) else None
    spooling = server.get("peak_rss_mb") if isinstance(server, dict) else None
    restart = result.get("restart")
    restarted = restart.get("peak_rss_mb") if isinstance(restart, dict) else None
    drain = result.get("drain")
    drain_usage = drain.get("usage") if isinstance(drain, dict) else None
    drain_server = drain_usage.get("server") if isinstance(drain_usage, dict) else None
    draining = drain_server.get("peak_rss_mb") if isinstance(drain_server, dict) else None
    return [spooling, restarted, draining]
