"""
The load generator's HTTP engine: POST bodies over `concurrency` keep-alive
connections, closed-loop (saturating: every connection sends as soon as its
previous answer arrived) or open-loop at a fixed rate, where latency runs from
each request's *scheduled* send time (no coordinated omission). Every request
is recorded in `bench.stats.Samples`; 2xx answers' `event_id`s are collected
for the loss check. With `stop_on_full`, the first 503 `spool_full` answer
ends the run (the spool-capacity scenario's "full" signal).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp
import orjson

from bench.stats import TRANSPORT_ERROR, Samples
from bridge.commands.simulate.sender import open_loop

__all__ = ["Recorder", "drive"]

_SPOOL_FULL = b'"spool_full"'


@dataclass(slots=True)
class Recorder:
    """What one `drive` did: samples, transport error kinds, acked ids, whether full."""

    samples: Samples = field(default_factory=Samples.empty)
    error_kinds: Counter[str] = field(default_factory=Counter)
    ids: list[str] = field(default_factory=list)
    sent: int = 0
    spool_full: bool = False
    started_at: float = 0.0
    elapsed_s: float = 0.0

    def answer(self, status: int, body: bytes, started: float) -> None:
        """Record an HTTP answer to the request scheduled at `started`."""
        self.samples.add(started, time.monotonic() - started, status)
        if 200 <= status < 300 and body[:1] == b"{":
            event_id = orjson.loads(body).get("event_id")
            if isinstance(event_id, str):
                self.ids.append(event_id)
        elif status == 503 and _SPOOL_FULL in body:
            self.spool_full = True

    def fail(self, kind: str, started: float) -> None:
        """Record a request that got no answer (`kind`: the error's class name)."""
        self.samples.add(started, time.monotonic() - started, TRANSPORT_ERROR)
        self.error_kinds[kind] += 1


async def drive(
    url: str,
    bodies: Iterator[bytes],
    *,
    rate: float | None,
    duration_s: float,
    concurrency: int,
    stop_on_full: bool = False,
    stop: asyncio.Event | None = None,
    timeout_s: float = 30.0,
) -> Recorder:
    """
    POST `bodies` to `url` for `duration_s` seconds (or until `stop` is set),
    closed-loop when `rate` is None, else open-loop at `rate` requests/s;
    in-flight requests are awaited (up to `timeout_s`, then counted as
    `Unfinished` errors).
    """
    recorder = Recorder()
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency),
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        headers={"Content-Type": "application/json"},
    )

    def stopped() -> bool:
        return (stop_on_full and recorder.spool_full) or (stop is not None and stop.is_set())

    async def one(body: bytes, started: float) -> None:
        try:
            async with session.post(url, data=body) as response:
                recorder.answer(response.status, await response.read(), started)
        except (aiohttp.ClientError, TimeoutError) as exc:
            recorder.fail(type(exc).__name__, started)
        except asyncio.CancelledError:
            recorder.fail("Unfinished", started)
            raise

    start = recorder.started_at = time.monotonic()
    end = start + duration_s
    async with session:
        if rate is None:

            async def worker() -> None:
                while time.monotonic() < end and not stopped():
                    recorder.sent += 1
                    await one(next(bodies), time.monotonic())

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        else:
            await open_loop(
                one,
                bodies,
                recorder,
                rate=rate,
                start=start,
                end=end,
                timeout_s=timeout_s,
                more=lambda: not stopped(),
                clock=time.monotonic,
            )
    recorder.elapsed_s = time.monotonic() - start
    return recorder
