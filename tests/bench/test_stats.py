"""bench/stats.py: per-request samples, their file format and window summaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.stats import TRANSPORT_ERROR, Samples, percentile, summarize


def _samples() -> Samples:
    samples = Samples.empty()
    for start, latency, status in [
        (0.0, 0.010, 200),
        (1.0, 0.020, 503),
        (2.0, 0.500, TRANSPORT_ERROR),
        (3.0, 0.040, 202),
    ]:
        samples.add(start, latency, status)
    return samples


@pytest.mark.parametrize(
    ("q", "expected"),
    [(50, 2.0), (99, 4.0), (100, 4.0), (0, 1.0)],
)
def test_percentile_is_nearest_rank(q: float, expected: float) -> None:
    """The percentile is the nearest-rank value of the ordered list."""
    assert expected == percentile([1.0, 2.0, 3.0, 4.0], q)


def test_percentile_of_nothing_is_zero() -> None:
    """An empty list has percentile 0.0 rather than an error."""
    assert 0.0 == percentile([], 99)


def test_summarize_counts_requests_that_started_in_the_window() -> None:
    """Only requests started in [start, end) count; req/s is answered per window second."""
    summary = summarize(_samples(), start=0.5, end=2.5)
    assert 1 == summary["answered"]
    assert 0 == summary["ok_2xx"]
    assert 1 == summary["non_2xx"]
    assert 1 == summary["errors"]
    assert 0.5 == summary["throughput_rps"]
    assert 20.0 == summary["p50_ms"]


def test_summarize_whole_run_uses_the_elapsed_time() -> None:
    """Without a window every request counts and req/s is over `elapsed_s`."""
    summary = summarize(_samples(), elapsed_s=2.0)
    assert 4 == summary["sent"]
    assert 3 == summary["answered"]
    assert 2 == summary["ok_2xx"]
    assert {"200": 1, "202": 1, "503": 1} == summary["statuses"]
    assert 1.5 == summary["throughput_rps"]
    assert 40.0 == summary["max_ms"]


def test_summarize_needs_a_finite_window_or_elapsed_time() -> None:
    """An open window without `elapsed_s` has no duration to divide by."""
    with pytest.raises(ValueError, match="finite window"):
        summarize(_samples(), start=1.0)


def test_samples_survive_a_round_trip_through_a_file(tmp_path: Path) -> None:
    """`dump` then `load` gives the same arrays back."""
    path = tmp_path / "run.samples"
    _samples().dump(path)
    loaded = Samples.load(path)
    assert list(_samples().starts) == list(loaded.starts)
    assert list(_samples().latencies) == list(loaded.latencies)
    assert list(_samples().statuses) == list(loaded.statuses)
