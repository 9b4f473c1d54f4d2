"""
Micro-benchmark of the spool alone, in the bridge's steady state: 64 webhooks at a time
are appended (fsynced group commits), acknowledged in batches as the relay would, and,
with the state check on, their state records appended as follow-ups and acknowledged
in turn. No HTTP, no Kafka: the CPU the durable spool costs per webhook on its own.

    .venv/bin/python -m bench.spool_micro [--webhooks 20000] [--runs 3]

Prints, per mode and run, the process CPU and the writer thread's CPU per webhook.
Records are the size of the bench's (a ~2.2 KB envelope, a ~2 KB dead-letter origin).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bridge.config import load_settings
from bridge.delivery.spool import Entry, Spool, SpooledRecord
from bridge.delivery.spool.appends import StateCheck
from bridge.publish import Record

_VALUE = b'{"stale":false,' + b'"x":"' + b"x" * 2200 + b'"}'
_ORIGIN = b'{"project":"acme"}\n' + b"y" * 2000
_HEADERS = (
    ("ce_id", b"0" * 32),
    ("ce_type", b"kyc.approved"),
    ("content-type", b"application/json"),
)
_CONCURRENCY = 64


def _thread_cpu(name: str) -> float:
    """CPU seconds of the live thread called `name` (0 if there is none)."""
    for thread in threading.enumerate():
        if thread.name == name and thread.native_id is not None:
            fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)
            ticks = fields[1].split()
            return (int(ticks[11]) + int(ticks[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


async def _run(webhooks: int, *, state: bool) -> tuple[float, float]:
    """Return (process, writer thread) CPU µs per webhook for one run."""
    with tempfile.TemporaryDirectory() as directory:
        env = {"BRIDGE_AUTH_TOKENS": "spool-micro-token-000001", "BRIDGE_SPOOL_DIR": directory}
        spool = Spool(load_settings(env).spool)
        committed: asyncio.Queue[SpooledRecord] = asyncio.Queue()

        def on_committed(records: list[SpooledRecord]) -> None:
            for record in records:
                committed.put_nowait(record)

        spool.subscribe(on_committed)
        await spool.open()
        gate = asyncio.Semaphore(_CONCURRENCY)

        async def webhook(index: int) -> None:
            subject = f"sub-{index:08d}"
            entry = Entry(
                f"event-{index}",
                "kyc.events.v1",
                Record(subject.encode(), _VALUE, _HEADERS),
                origin=_ORIGIN,
            )
            check = StateCheck(
                "kyc.state.v1", subject, "acme", "approved", "2025-06-30T12:00:00Z",
                "kyc.approved", "webhook", "2025-06-30T12:00:00Z", b"replica",
            )  # fmt: skip
            async with gate:
                await spool.append([entry], state=check if state else None)

        async def acknowledge() -> None:
            while True:
                batch = [await committed.get()]
                while not committed.empty():
                    batch.append(committed.get_nowait())
                await asyncio.sleep(0.005)  # a Kafka round trip
                spool.mark_done(batch, time.time())

        acker = asyncio.create_task(acknowledge())
        cpu, writer = time.process_time(), _thread_cpu("spool")
        await asyncio.gather(*(webhook(i) for i in range(webhooks)))
        while spool.events:
            await asyncio.sleep(0.01)
        await spool.refresh()
        cpu, writer = time.process_time() - cpu, _thread_cpu("spool") - writer
        acker.cancel()
        await spool.close()
    return cpu / webhooks * 1e6, writer / webhooks * 1e6


async def _main(webhooks: int, runs: int) -> None:
    results: dict[str, list[tuple[float, float]]] = {"event": [], "event+state": []}
    for _ in range(runs):  # interleaved, so a slower minute hits both modes
        for mode, figures in results.items():
            figures.append(await _run(webhooks, state=mode == "event+state"))
    print(f"{'mode':<12} {'process µs/webhook':>20} {'writer µs/webhook':>19}  (runs)")
    for mode, figures in results.items():
        process = statistics.median(p for p, _ in figures)
        writer = statistics.median(w for _, w in figures)
        each = ", ".join(f"{p:.0f}/{w:.0f}" for p, w in figures)
        print(f"{mode:<12} {process:>17.0f} µs {writer:>16.0f} µs  ({each})")


def main(argv: list[str] | None = None) -> None:
    """Print the spool's CPU per webhook with and without state records (median of runs)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--webhooks", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        import uvloop  # noqa: PLC0415  (the bridge runs on it when installed)
    except ImportError:
        asyncio.run(_main(args.webhooks, args.runs))
    else:
        uvloop.run(_main(args.webhooks, args.runs))


if __name__ == "__main__":
    main()
