"""bench/report.py: the issue-14 targets judged from the runs' JSON."""

from __future__ import annotations

from pathlib import Path

from bench.report import comparisons, render, targets
from bench.scenarios import Options
from bridge.types import JSONObject

OPTIONS = Options(
    duration=20.0,
    rate=1000.0,
    connections=64,
    warmup=2.0,
    pool_rate=4000,
    profile=False,
    keep=False,
    quick=False,
    fill=True,
    fill_max_bytes=None,
    fill_timeout=1800.0,
    results=Path("bench/results"),
)


def _runs() -> dict[str, JSONObject]:
    def bridge(target: str, rps: float, cpu: float, rss: float) -> JSONObject:
        return {
            "scenario": "saturating",
            "target": target,
            "throughput_rps": rps,
            "cpu_us_per_webhook": cpu,
            "usage": {"server": {"peak_rss_mb": rss, "cpu_cores": 0.9}},
        }

    return {
        "saturating-passthrough": {"target": "passthrough", "throughput_rps": 7000.0},
        "saturating-bridge": bridge("bridge", 4000.0, 180.0, 90.0),
        "saturating-encrypt": bridge("encrypt", 3600.0, 200.0, 160.0),
        "fixed-bridge": {"target": "bridge", "p99_ms": 12.0, "errors": 0, "non_2xx": 0},
        "spooled-bridge": {
            "scenario": "spooled",
            "target": "bridge",
            "outage": {"after_stop": {"throughput_rps": 3500.0, "p99_ms": 60.0}},
        },
    }


def test_targets_are_judged_on_the_run() -> None:
    """Each target is MET, MISSED, or NO DATA when its scenario did not run."""
    verdicts = [t.verdict for t in targets(_runs(), OPTIONS)]
    expected = ["MET", "MET", "MET", "MISSED", "MISSED", "NO DATA", "MET"]
    assert expected == verdicts


def test_fixed_rate_errors_miss_the_tail_target() -> None:
    """A low p99 does not meet the target when requests failed."""
    runs = _runs()
    runs["fixed-bridge"] = runs["fixed-bridge"] | {"errors": 3}
    assert "MISSED" == targets(runs, OPTIONS)[2].verdict


def test_comparisons_are_same_run_ratios() -> None:
    """Encrypt vs clear and bridge vs pass-through are ratios of this run's figures."""
    ratios = comparisons(_runs())
    assert 0.571 == ratios["bridge_over_passthrough"]
    assert 1.111 == ratios["encrypt_over_clear_cpu_per_webhook"]
    assert 0.9 == ratios["encrypt_over_clear_rps"]
    assert ratios["bridge_over_bare"] is None


def test_render_lists_every_run_and_target() -> None:
    """The Markdown report has a row per run and a line per target."""
    info: JSONObject = {
        "nproc": 2,
        "cpu_model": "test",
        "memory_gb": 1,
        "python": "3.11",
        "kafka_jar": "kafka.jar",
        "commit": "abc",
        "bridge_uncommitted": [],
    }
    found = targets(_runs(), OPTIONS)
    text = render(_runs(), found, info, OPTIONS)
    assert 7 == sum(
        line.startswith(("- MET", "- MISSED", "- NO DATA")) for line in text.split("\n")
    )
    assert "| saturating | **kyc-bridge**, PII encrypt | 3,600 |" in text
