"""
An asyncio HTTP load engine: POST bodies over `concurrency` keep-alive
connections, either closed-loop (saturating: every connection sends as soon
as its previous answer arrived) or open-loop at a fixed rate. In open-loop
mode latency runs from each request's *scheduled* send time, so a stalled
server is charged for the queue it causes (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
import orjson

from bridge.types import JSONObject

__all__ = ["Counted", "SimulationReport", "open_loop", "percentile", "send"]


class Counted(Protocol):
    """Where `open_loop` counts the requests it started."""

    sent: int


async def open_loop(
    send: Callable[[bytes, float], Coroutine[object, object, None]],
    bodies: Iterator[bytes],
    counter: Counted,
    *,
    rate: float,
    start: float,
    end: float,
    timeout_s: float,
    more: Callable[[], bool],
    clock: Callable[[], float] = time.perf_counter,
) -> int:
    """
    Start `send(body, due)` for the n-th request at its due time `start + n / rate` (on
    `clock`), counting in `counter.sent`, while `more()` holds and the due time is before
    `end`; a sender behind schedule starts the overdue requests at once (their latency
    still runs from `due`). Then wait up to `timeout_s` for the requests in flight and
    cancel the rest; return how many were cancelled.
    """
    pending: set[asyncio.Task[None]] = set()
    interval = 1.0 / rate
    while more():
        due = start + counter.sent * interval
        if due >= end:
            break
        now = clock()
        if due > now:
            await asyncio.sleep(due - now)
            continue
        task = asyncio.create_task(send(next(bodies), due))
        pending.add(task)
        task.add_done_callback(pending.discard)
        counter.sent += 1
        if counter.sent % 64 == 0:
            await asyncio.sleep(0)  # behind schedule: let the requests run
    if not pending:
        return 0
    _, late = await asyncio.wait(pending, timeout=timeout_s)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    return len(late)


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile `q` (0-100) of an ascending list; 0.0 when empty."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class SimulationReport:
    """What a run did: answers by status, transport errors, latency in milliseconds."""

    sent: int
    statuses: dict[int, int]
    errors: dict[str, int]
    elapsed_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    acked_ids: tuple[str, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> int:
        """Answers with a 2xx status."""
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def answered(self) -> int:
        """Requests that got an HTTP answer (any status)."""
        return sum(self.statuses.values())

    @property
    def throughput(self) -> float:
        """Answers per second over the run."""
        return self.answered / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_json(self) -> JSONObject:
        """The report as JSON (event ids left out)."""
        return {
            "sent": self.sent,
            "answered": self.answered,
            "ok_2xx": self.ok,
            "non_2xx": self.answered - self.ok,
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "elapsed_s": round(self.elapsed_s, 3),
            "throughput_rps": round(self.throughput, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p95_ms": round(self.p95_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "max_ms": round(self.max_ms, 3),
        }


@dataclass(slots=True)
class _Tally:
    collect_ids: bool
    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    ids: list[str] = field(default_factory=list)

    def answer(self, status: int, body: bytes, started: float) -> None:
        self.latencies.append(time.perf_counter() - started)
        self.statuses[status] += 1
        if self.collect_ids and 200 <= status < 300 and body[:1] == b"{":
            event_id = orjson.loads(body).get("event_id")
            if isinstance(event_id, str):
                self.ids.append(event_id)

    def report(self, elapsed: float) -> SimulationReport:
        ordered = sorted(self.latencies)
        p50, p95, p99, top = (percentile(ordered, q) * 1000 for q in (50, 95, 99, 100))
        return SimulationReport(
            sent=self.sent,
            statuses=dict(self.statuses),
            errors=dict(self.errors),
            elapsed_s=elapsed,
            p50_ms=p50,
            p95_ms=p95,
            p99_ms=p99,
            max_ms=top,
            acked_ids=tuple(self.ids),
        )


async def send(
    url: str,
    bodies: Iterator[bytes],
    *,
    rate: float | None,
    count: int | None,
    duration_s: float | None,
    concurrency: int,
    headers: Mapping[str, str] | None = None,
    collect_ids: bool = False,
    timeout_s: float = 30.0,
) -> SimulationReport:
    """
    POST `bodies` to `url` until `count` requests or `duration_s` seconds (whichever
    first; one is required), closed-loop when `rate` is None, else open-loop at
    `rate` requests/s. In-flight requests are awaited (up to `timeout_s`).
    """
    if count is None and duration_s is None:
        raise ValueError("give count or duration_s")
    tally = _Tally(collect_ids)
    limit = count if count is not None else 2**62
    connector = aiohttp.TCPConnector(limit=concurrency)
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        headers={"Content-Type": "application/json", **(headers or {})},
    )

    async def one(body: bytes, started: float) -> None:
        try:
            async with session.post(url, data=body) as response:
                tally.answer(response.status, await response.read(), started)
        except (aiohttp.ClientError, TimeoutError) as exc:
            tally.errors[type(exc).__name__] += 1

    start = time.perf_counter()
    end = start + duration_s if duration_s is not None else math.inf
    async with session:
        if rate is None:

            async def worker() -> None:
                while tally.sent < limit and time.perf_counter() < end:
                    tally.sent += 1
                    await one(next(bodies), time.perf_counter())

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        else:
            unfinished = await open_loop(
                one,
                bodies,
                tally,
                rate=rate,
                start=start,
                end=end,
                timeout_s=timeout_s,
                more=lambda: tally.sent < limit,
            )
            if unfinished:
                tally.errors["Unfinished"] += unfinished
    return tally.report(time.perf_counter() - start)
