"""
Unauthenticated clients cannot grow the bridge's memory: a real `kyc-bridge
serve` child process under many slow clients with huge header sets.

Before the header and connection caps, 300 connections each sending 120
headers of 8 KB took the process from 70 to 630 MiB.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.bridge_proc import BridgeProcess, free_port

pytestmark = pytest.mark.slow

TOKEN = "memory-token-0000000000001"
MAX_CONNECTIONS = 200
MAX_HEADER_BYTES = 16 * 1024  # the default
MIB = 1024 * 1024
#: what one connection may hold: its state (~5 KiB measured) plus a pending head,
#: which costs up to ~3.5x its bytes as parsed header objects (measured with 63 small lines)
PER_CONNECTION = 8 * 1024 + 4 * MAX_HEADER_BYTES
#: allocator and measurement noise
SLACK = 24 * MIB


@pytest.fixture(name="bridge")
def _bridge(tmp_path: Path) -> Iterator[BridgeProcess]:
    """A bridge with a connection cap, no Kafka reachable (nothing here needs it)."""
    bridge = BridgeProcess(
        tmp_path,
        {
            "BRIDGE_AUTH_TOKENS": TOKEN,
            "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "BRIDGE_HTTP_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
            "BRIDGE_HTTP_READ_TIMEOUT_S": "60",  # heads are cut by size here, not by time
        },
    )
    bridge.start()
    try:
        yield bridge
    finally:
        bridge.stop()


class Attacker:
    """One slow client: connects, then sends a request head that never ends."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.outcome = "connecting"
        self.answer = b""

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.outcome = "open"

    async def refused(self) -> bool:
        """Whether the server answered before anything was sent (and closed)."""
        try:
            async with asyncio.timeout(0.05):
                self.answer = await self.reader.read()
        except TimeoutError:
            return False
        self.outcome = "refused"
        return True

    async def send_head(self, lines: int, size: int, pause: float) -> None:
        """Send `lines` header lines of `size` bytes, slowly, and never the blank line."""
        try:
            self.writer.write(f"POST /webhooks/argos/{TOKEN} HTTP/1.1\r\nHost: x\r\n".encode())
            for i in range(lines):
                self.writer.write(f"X-H{i}: {'v' * size}\r\n".encode())
                await self.writer.drain()
                await asyncio.sleep(pause)
            self.outcome = "holding"
        except ConnectionError:
            self.outcome = "cut"

    def close(self) -> None:
        self.writer.close()


async def _peak_rss(process: psutil.Process, until: asyncio.Future[list[None]]) -> int:
    peak = process.memory_info().rss
    while not until.done():
        peak = max(peak, process.memory_info().rss)
        await asyncio.sleep(0.05)
    return max(peak, process.memory_info().rss)


async def _attack(
    bridge: BridgeProcess, count: int, lines: int, size: int
) -> tuple[int, Counter[str], list[bytes]]:
    """Run `count` slow clients; return the peak RSS growth, their outcomes and 503 answers."""
    assert bridge.process is not None
    process = psutil.Process(bridge.process.pid)
    base = process.memory_info().rss
    attackers = [Attacker(bridge.port) for _ in range(count)]
    for attacker in attackers:  # connect all first, as a flood does
        await attacker.connect()
    await asyncio.sleep(0.3)
    answered = await asyncio.gather(*(a.refused() for a in attackers))
    refused = [a for a, was_refused in zip(attackers, answered, strict=True) if was_refused]
    sending = asyncio.gather(
        *(a.send_head(lines, size, 0.01) for a in attackers if a.outcome == "open")
    )
    peak = await _peak_rss(process, sending)
    await asyncio.sleep(0.5)  # holding clients stay connected a little longer
    peak = max(peak, process.memory_info().rss)
    outcomes = Counter(a.outcome for a in attackers)
    for attacker in attackers:
        attacker.close()
    return peak - base, outcomes, [a.answer for a in refused]


async def test_huge_unfinished_heads_cannot_grow_memory(bridge: BridgeProcess) -> None:
    """300 clients x 120 headers x 8 KB: the surplus is refused, the rest cut off at the cap."""
    growth, outcomes, answers = await _attack(bridge, 300, lines=120, size=8000)
    assert {"refused": 300 - MAX_CONNECTIONS, "cut": MAX_CONNECTIONS} == dict(outcomes)
    assert all(a.startswith(b"HTTP/1.1 503 ") for a in answers)
    assert all(b'"too_many_connections"' in a for a in answers)
    assert growth < MAX_CONNECTIONS * PER_CONNECTION + SLACK, f"{growth / MIB:.0f} MiB"


async def test_heads_just_below_the_cap_on_every_connection_stay_bounded(
    bridge: BridgeProcess,
) -> None:
    """The worst legal state: every allowed connection holds a head just below the byte cap."""
    lines, size = 63, 240  # many small lines: the costliest way to fill 16 KiB
    growth, outcomes, _ = await _attack(bridge, MAX_CONNECTIONS + 50, lines=lines, size=size)
    assert {"refused": 50, "holding": MAX_CONNECTIONS} == dict(outcomes)
    assert growth < MAX_CONNECTIONS * PER_CONNECTION + SLACK, f"{growth / MIB:.0f} MiB"
