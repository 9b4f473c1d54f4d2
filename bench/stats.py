"""
Per-request samples of a load run and their summaries over any time window.

The load generator records, for every request, its start (`time.monotonic()`,
the scheduled send time in fixed-rate mode), its latency and its HTTP status
(0: a transport error, no answer). `summarize` turns the requests that
*started* inside a window into req/s, latency percentiles (answered requests
only), errors and non-2xx answers. `time.monotonic()` is one system-wide clock
on Linux, so `bench.run` can cut the loadgen's samples at moments it observed
itself (e.g. when the broker had stopped).
"""

from __future__ import annotations

import math
import struct
from array import array
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bridge.types import JSONObject

__all__ = ["TRANSPORT_ERROR", "Samples", "percentile", "summarize"]

#: the status recorded for a request that got no HTTP answer
TRANSPORT_ERROR = 0
_HEADER = struct.Struct("<Q")


def percentile(ordered: list[float], q: float) -> float:
    """
    Return the nearest-rank percentile `q` (0-100) of an ascending list; 0.0 when empty.
    """
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class Samples:
    """Parallel arrays: start (monotonic s), latency (s) and status of every request."""

    starts: array[float]
    latencies: array[float]
    statuses: array[int]

    @classmethod
    def empty(cls) -> Samples:
        """Return a new, empty set of samples."""
        return cls(array("d"), array("d"), array("i"))

    def add(self, start: float, latency: float, status: int) -> None:
        """Record one request."""
        self.starts.append(start)
        self.latencies.append(latency)
        self.statuses.append(status)

    def dump(self, path: Path) -> None:
        """Write the samples to `path` (native binary arrays; read back with `load`)."""
        with path.open("wb") as out:
            out.write(_HEADER.pack(len(self.starts)))
            self.starts.tofile(out)
            self.latencies.tofile(out)
            self.statuses.tofile(out)

    @classmethod
    def load(cls, path: Path) -> Samples:
        """
        Read samples written by `dump`.

        Raises:
            EOFError: the file is truncated.
        """
        samples = cls.empty()
        with path.open("rb") as source:
            (count,) = _HEADER.unpack(source.read(_HEADER.size))
            samples.starts.fromfile(source, count)
            samples.latencies.fromfile(source, count)
            samples.statuses.fromfile(source, count)
        return samples


def summarize(
    samples: Samples,
    *,
    start: float = -math.inf,
    end: float = math.inf,
    elapsed_s: float | None = None,
) -> JSONObject:
    """
    Summarize the requests that started in [`start`, `end`).

    Throughput is answered requests per second of `elapsed_s`, or of the window
    when that is not given (then both bounds must be finite). Percentiles are
    over answered requests; transport errors count in `errors` only.

    Raises:
        ValueError: neither `elapsed_s` nor a finite window is given.
    """
    seconds = elapsed_s if elapsed_s is not None else end - start
    if not math.isfinite(seconds):
        raise ValueError("give elapsed_s or a finite window")
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    for begun, latency, status in zip(
        samples.starts, samples.latencies, samples.statuses, strict=True
    ):
        if start <= begun < end:
            statuses[status] += 1
            if status != TRANSPORT_ERROR:
                latencies.append(latency)
    errors = statuses.pop(TRANSPORT_ERROR, 0)
    answered = sum(statuses.values())
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    latencies.sort()
    p50, p95, p99, top = (percentile(latencies, q) * 1000 for q in (50, 95, 99, 100))
    return {
        "sent": answered + errors,
        "answered": answered,
        "ok_2xx": ok,
        "non_2xx": answered - ok,
        "errors": errors,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "elapsed_s": round(seconds, 3),
        "throughput_rps": round(answered / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": round(p50, 3),
        "p95_ms": round(p95, 3),
        "p99_ms": round(p99, 3),
        "max_ms": round(top, 3),
    }
