"""
The benchmark's Markdown report and its issue-14 targets (MET / MISSED / NO
DATA), computed from the runs' JSON results.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bench.fill import peak_rss
from bench.scenarios import Options, outage_windows
from bridge.types import JSONObject, JSONValue

__all__ = ["Target", "comparisons", "render", "targets"]

Verdict = Literal["MET", "MISSED", "NO DATA"]

_TARGET_LABELS = {
    "bare": "bare aiohttp",
    "passthrough": "pass-through",
    "bridge": "**kyc-bridge**",
    "encrypt": "**kyc-bridge**, PII encrypt",
}
_COLUMNS = (
    "scenario",
    "target",
    "req/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "errors / non-2xx",
    "CPU cores",
    "CPU µs / webhook",
    "peak RSS MB",
    "loss check",
    "broker CPU",
    "loadgen CPU",
)


@dataclass(frozen=True, slots=True)
class Target:
    """One issue-14 target: what, the measured figure, and the verdict."""

    name: str
    measured: str
    verdict: Verdict

    def as_json(self) -> JSONObject:
        """Return the target as JSON."""
        return {"target": self.name, "measured": self.measured, "status": self.verdict}


def _get(document: JSONValue, *path: str) -> JSONValue:
    for key in path:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def _float(value: JSONValue) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _num(value: JSONValue, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, int | float) else "-"


def _verdict(ok: bool | None) -> Verdict:
    return "NO DATA" if ok is None else ("MET" if ok else "MISSED")


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def comparisons(runs: dict[str, JSONObject]) -> JSONObject:
    """Return the same-run ratios: bridge vs ceilings, encrypt vs clear mode."""

    def rps(name: str) -> float | None:
        return _float(_get(runs.get(name), "throughput_rps"))

    def cpu(name: str) -> float | None:
        return _float(_get(runs.get(name), "cpu_us_per_webhook"))

    return {
        "bridge_over_bare": _ratio(rps("saturating-bridge"), rps("saturating-bare")),
        "bridge_over_passthrough": _ratio(rps("saturating-bridge"), rps("saturating-passthrough")),
        "encrypt_over_clear_cpu_per_webhook": _ratio(
            cpu("saturating-encrypt"), cpu("saturating-bridge")
        ),
        "encrypt_over_clear_rps": _ratio(rps("saturating-encrypt"), rps("saturating-bridge")),
        "encrypt_over_clear_cpu_per_webhook_fixed": _ratio(
            cpu("fixed-encrypt"), cpu("fixed-bridge")
        ),
    }


def _rss_everywhere(runs: dict[str, JSONObject]) -> float | None:
    peaks: list[float] = []
    for name, run in runs.items():
        if _get(run, "target") not in ("bridge", "encrypt"):
            continue
        figures = peak_rss(run) if name.startswith("fill-") else [_get(run, "usage", "server")]
        for figure in figures:
            value = _float(_get(figure, "peak_rss_mb") if isinstance(figure, dict) else figure)
            if value is not None:
                peaks.append(value)
    return max(peaks) if peaks else None


def targets(runs: dict[str, JSONObject], options: Options) -> list[Target]:
    """Return the issue-14 targets, judged on this run."""
    found: list[Target] = []

    def add(name: str, measured: str, ok: Callable[[], bool] | None) -> None:
        found.append(Target(name, measured, _verdict(None if ok is None else ok())))

    cpu = _float(_get(runs.get("saturating-bridge"), "cpu_us_per_webhook"))
    add(
        "server CPU per webhook <= 200 µs (saturating, clear mode, everything on)",
        f"{_num(cpu, 0)} µs",
        None if cpu is None else lambda: cpu <= 200,
    )
    share = _float(comparisons(runs)["bridge_over_passthrough"])
    add(
        "saturated >= 0.5 x pass-through",
        f"{_num(share, 2)} x",
        None if share is None else lambda: share >= 0.5,
    )
    fixed = runs.get("fixed-bridge")
    p99 = _float(_get(fixed, "p99_ms"))
    failed = sum(int(_float(_get(fixed, k)) or 0) for k in ("errors", "non_2xx"))
    add(
        f"p99 <= 15 ms at a fixed {options.rate:,.0f}/s (no errors, all 2xx)",
        f"p99 {_num(p99, 1)} ms, {failed} errors/non-2xx",
        None if p99 is None else lambda: p99 <= 15 and failed == 0,
    )
    after = _get(runs.get("spooled-bridge"), "outage", "after_stop")
    out_rps, out_p99 = _float(_get(after, "throughput_rps")), _float(_get(after, "p99_ms"))
    add(
        "broker outage (default settings): >= 3,000/s and p99 <= 50 ms after the stop",
        f"{_num(out_rps, 0)}/s, p99 {_num(out_p99, 1)} ms",
        None if out_rps is None or out_p99 is None else lambda: out_rps >= 3000 and out_p99 <= 50,
    )
    rss = _rss_everywhere(runs)
    add(
        "peak RSS <= 150 MB in every bridge scenario and phase",
        f"{_num(rss)} MB",
        None if rss is None else lambda: rss <= 150,
    )
    quarters = _get(runs.get("fill-bridge"), "fill", "rss_at_fill_pct")
    first, last = (_float(_get(quarters, q, "rss_mb")) for q in ("25", "100"))
    growth = None if first is None or last is None else last - first
    add(
        "RSS flat with the backlog (<= 10 MB more at 100 % of the fill than at 25 %)",
        f"{_num(growth)} MB",
        None if growth is None else lambda: growth <= 10,
    )
    cost = _float(comparisons(runs)["encrypt_over_clear_cpu_per_webhook"])
    add(
        "PII encrypt mode costs <= 15 % more CPU per webhook than clear (saturating)",
        f"{_num(None if cost is None else 100 * (cost - 1))} %",
        None if cost is None else lambda: cost <= 1.15,
    )
    return found


def _row(scenario: str, target: str, run: JSONValue, loss: str) -> str:
    cells = [scenario, target, _num(_get(run, "throughput_rps"), 0)]
    cells += [_num(_get(run, k), 2) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")]
    cells += [f"{_get(run, 'errors')} / {_get(run, 'non_2xx')}"]
    cells += [_num(_get(run, "usage", "server", "cpu_cores"), 2)]
    cells += [_num(_get(run, "cpu_us_per_webhook"), 0)]
    cells += [_num(_get(run, "usage", "server", "peak_rss_mb")), loss]
    cells += [_num(_get(run, "usage", who, "cpu_cores"), 2) for who in ("broker", "client")]
    return "| " + " | ".join(cells) + " |"


def _scenario_label(scenario: str, options: Options) -> str:
    return {
        "fixed": f"fixed {options.rate:,.0f}/s",
        "spooled": "outage (whole run)",
        "fill": "spool fill to cap",
    }.get(scenario, scenario)


def _table(runs: dict[str, JSONObject], options: Options) -> list[str]:
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    for run in runs.values():
        scenario, target = str(run.get("scenario")), str(run.get("target"))
        loss = _get(run, "loss", "status")
        label = _scenario_label(scenario, options)
        lines.append(_row(label, _TARGET_LABELS.get(target, target), run, str(loss or "n/a")))
        if scenario == "spooled":
            parts = (
                ("before_stop", "before the stop"),
                ("during_stop", "broker shutting down"),
                ("after_stop", "broker down"),
            )
            for key, text in parts:
                window = _get(run, "outage", key)
                if isinstance(window, dict):
                    part = window | {"usage": {"server": {"cpu_cores": window.get("cpu_cores")}}}
                    lines.append(_row(f"outage, {text}", "**kyc-bridge**", part, "(above)"))
    return lines


def _mib(value: JSONValue) -> str:
    number = _float(value)
    return _num(None if number is None else number / 2**20, 0)


def _fill_lines(run: JSONObject) -> list[str]:
    fill, restart, drain = run.get("fill"), run.get("restart"), run.get("drain")
    if not isinstance(fill, dict):
        return []
    quarters = fill.get("rss_at_fill_pct")
    at = ", ".join(
        f"{q} %: {_num(_get(v, 'rss_mb'))} MB ({_num(_get(v, 'events'), 0)} events)"
        for q, v in (quarters.items() if isinstance(quarters, dict) else [])
    )
    spooling, restarted, draining = (_num(v) for v in peak_rss(run))
    return [
        "",
        f"Spool fill with the broker down (cap {_num(fill.get('max_events'), 0)} events / "
        f"{_mib(fill.get('max_bytes'))} MiB): {_num(fill.get('events'), 0)} events, "
        f"{_mib(fill.get('bytes'))} MiB ({fill.get('fill_pct')} % of the cap; spool_full "
        f"answered: {fill.get('spool_full')}) at {_num(run.get('throughput_rps'), 0)} webhooks/s.",
        f"- RSS while spooling: {at}; peak {spooling} MB",
        f"- bridge restarted on that spool: stopped in {_get(restart, 'stop_s')} s; /readyz "
        f"answered {_get(restart, 'readyz_answer_after_s')} s after the stop with "
        f"{_get(restart, 'readyz_status')} (503 while the spool has no room for a webhook); "
        f"RSS {_num(_get(restart, 'rss_mb_at_first_answer'))} MB then, peak {restarted} MB",
        f"- broker started ({_get(drain, 'broker_start_s')} s): /readyz 200 "
        f"{_get(drain, 'ready_200_after_broker_start_s')} s later; spool empty after "
        f"{_get(drain, 'seconds_until_empty')} s, {_num(_get(drain, 'drain_rate_eps'), 0)} "
        f"events/s; peak RSS while draining {draining} MB; loss check "
        f"{_get(run, 'loss', 'status')}",
    ]


def _summary_lines(runs: dict[str, JSONObject], options: Options) -> list[str]:
    ratios = comparisons(runs)
    lines = ["", "Same-run comparisons (saturating):"]
    lines.append(f"- bridge / bare HTTP = {_num(ratios['bridge_over_bare'], 2)}")
    lines.append(f"- bridge / pass-through = {_num(ratios['bridge_over_passthrough'], 2)}")
    cpu, rps = ratios["encrypt_over_clear_cpu_per_webhook"], ratios["encrypt_over_clear_rps"]
    lines.append(
        f"- PII encrypt / clear: CPU per webhook x{_num(cpu, 2)}, req/s x{_num(rps, 2)} "
        f"(fixed rate: CPU per webhook x"
        f"{_num(ratios['encrypt_over_clear_cpu_per_webhook_fixed'], 2)})"
    )
    outage = _get(runs.get("spooled-bridge"), "outage")
    drain = _get(runs.get("spooled-bridge"), "drain")
    if isinstance(outage, dict):
        lines.append(
            f"- outage: broker stopped {outage.get('stop_after_s')} s into the measured run "
            f"(the stop took {outage.get('broker_stop_s')} s); after the restart "
            f"{_get(drain, 'spooled_events')} spooled events drained in "
            f"{_get(drain, 'seconds_until_empty')} s ({_num(_get(drain, 'drain_rate_eps'), 0)} "
            "events/s)"
        )
    fill = runs.get("fill-bridge")
    return lines + (_fill_lines(fill) if fill is not None else [])


def render(
    runs: dict[str, JSONObject], found: list[Target], info: JSONObject, options: Options
) -> str:
    """Return the whole Markdown report."""
    lines = [f"## kyc-bridge benchmark ({time.strftime('%Y-%m-%d %H:%M')})", ""]
    lines += _table(runs, options)
    lines += _summary_lines(runs, options)
    lines += ["", "Issue-14 targets (this run):"]
    lines += [f"- {t.verdict}: {t.name} (measured: {t.measured})" for t in found]
    for name, run in runs.items():
        profile = run.get("profile")
        entries = _get(profile, "self_pct")
        if isinstance(entries, list):
            lines += [
                "",
                f"Profile of {name} (py-spy --gil, {_get(profile, 'samples')} samples, "
                f"top self time; full table in {_get(profile, 'table')}):",
            ]
            lines += [
                f"- {e[0]}: {e[1]} %" for e in entries[:10] if isinstance(e, list) and len(e) == 2
            ]
    before, after = outage_windows(options)
    lines += [
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['memory_gb']} GB, "
        f"Python {info['python']}, {info['kafka_jar']}; loadgen, bridge and broker share it.",
        f"Code: commit {info['commit']}, uncommitted in bridge/: {info['bridge_uncommitted']}",
        f"Runs: {options.duration:g} s measured after {options.warmup:g} s warm-up "
        f"(outage: {before:g} s before the broker stop, {after:g} s after it); "
        f"{options.connections} connections; "
        "payloads 1-3 KB, ~30% encrypted, mixed triggers. CPU = user+sys of the server "
        "process and its children over the measured window; CPU µs / webhook = that / "
        "answered webhooks.",
    ]
    return "\n".join(lines) + "\n"
