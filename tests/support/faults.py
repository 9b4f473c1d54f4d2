"""
Shared pieces of the fault tests: a client that behaves like ARGOS must (retry until
2xx, one step at a time), the end-to-end check (every 2xx'd id on the topic, first
copies in per-submission order), and a bridge process wired to a broker.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

from tests.support.bridge_proc import BridgeProcess, ConsumedRecord, read_topic

__all__ = [
    "HEADERS",
    "STEPS",
    "TOKEN",
    "Stream",
    "make_bridge",
    "payload",
    "raw_step",
    "spool_empty",
    "verify",
    "wait_until",
]

TOKEN = "fault-test-token-00000001"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
STEPS = ("submit", "approved", "aml")


def payload(submission: str, step: int) -> bytes:
    trigger = STEPS[step % len(STEPS)]
    body: dict[str, object] = {
        "webhook_trigger": trigger,
        "submission_id": submission,
        "email": f"{submission}@example.com",
        "x_step": step,  # unknown fields are kept: lets the test check order
    }
    if trigger == "approved":
        body["kyc_result"] = {"status": "approved", "updated_at": "2026-11-25T10:00:00Z"}
    return orjson.dumps(body)


@dataclass
class Stream:
    """A client that behaves like ARGOS would have to: retry until a 2xx, one step at a time."""

    url: str
    pace_s: float = 0.15  # pause after each acknowledged step: a steady stream, not a burst
    acked: dict[str, list[str]] = field(default_factory=dict)  # submission -> event ids in order
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0

    async def submission(self, session: aiohttp.ClientSession, sid: str, steps: int) -> None:
        for step in range(steps):
            while True:
                try:
                    async with session.post(
                        self.url, data=payload(sid, step), headers=HEADERS
                    ) as response:
                        self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
                        if 200 <= response.status < 300:
                            body = await response.json()
                            self.acked.setdefault(sid, []).append(body["event_id"])
                            await asyncio.sleep(self.pace_s)
                            break
                except (aiohttp.ClientError, TimeoutError):
                    self.errors += 1
                await asyncio.sleep(0.2)

    async def run(self, submissions: int, steps: int, concurrency: int = 16) -> None:
        names = [f"sub-{uuid.uuid4().hex[:10]}" for _ in range(submissions)]
        queue: asyncio.Queue[str] = asyncio.Queue()
        for name in names:
            queue.put_nowait(name)
        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def worker() -> None:
                while not queue.empty():
                    await self.submission(session, queue.get_nowait(), steps)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    @property
    def acked_count(self) -> int:
        return sum(len(ids) for ids in self.acked.values())


def raw_step(record: ConsumedRecord) -> int:
    """The `x_step` of a clear record's raw payload."""
    return int(orjson.loads(record.value or b"{}")["raw"]["x_step"])


async def verify(
    stream: Stream,
    bootstrap: str,
    topic: str,
    *,
    step_of: Callable[[ConsumedRecord], int] = raw_step,
) -> None:
    """
    Every acknowledged id is on the topic; per submission, first copies in order.
    `step_of` reads a record's step (protected records: from the decrypted raw).
    """
    wanted = {i for ids in stream.acked.values() for i in ids}

    def complete(records: list[ConsumedRecord]) -> bool:
        return wanted <= {r.headers["ce_id"].decode() for r in records}

    records = await read_topic(bootstrap, topic, min_count=len(wanted), timeout=90, until=complete)
    first_seen: dict[str, tuple[int, int]] = {}
    by_key: dict[bytes, list[tuple[int, str]]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        event_id = r.headers["ce_id"].decode()
        if event_id in first_seen:
            continue  # a duplicate copy (same ce_id) after a retry: allowed
        first_seen[event_id] = (r.partition, r.offset)
        step = step_of(r)
        by_key.setdefault(r.key or b"", []).append((step, event_id))
    missing = wanted - set(first_seen)
    assert set() == missing, f"{len(missing)} acknowledged events missing from Kafka"
    for sid, ids in stream.acked.items():
        on_topic = [event_id for _, event_id in by_key[sid.encode()]]
        assert ids == [i for i in on_topic if i in set(ids)], f"order broken for {sid}"
        steps = [step for step, _ in by_key[sid.encode()]]
        assert sorted(steps) == steps, f"steps out of order for {sid}: {steps}"


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.25)
    raise AssertionError("condition not reached in time")


async def spool_empty(bridge: BridgeProcess) -> bool:
    async with aiohttp.ClientSession() as session, session.get(bridge.url + "/readyz") as r:
        body = await r.json()
        return bool(body["spool"]["events"] == 0)


def make_bridge(workdir: Path, broker_bootstrap: str, topic: str, **env: str) -> BridgeProcess:
    return BridgeProcess(
        workdir,
        {
            "BRIDGE_AUTH_TOKENS": TOKEN,
            "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": broker_bootstrap,
            "BRIDGE_TOPIC": topic,
            "BRIDGE_DLQ_TOPIC": topic + ".dlq",
            "BRIDGE_PUBLISH_DEADLINE_MS": "500",
            "BRIDGE_KAFKA_REQUEST_TIMEOUT_MS": "5000",
            **env,
        },
    )
