"""
Helpers of the end-to-end reconciliation tests (tests/e2e/test_reconcile.py).

Webhook fixtures moved to a fresh submission id and to recent times (the reconciler walks
the last days, the fake API filters on the creation day), one bridge process wired to a
broker and to the fake API, the events and the compacted view of the state topic read back,
a bridge's metrics and JSON log lines, and `kyc-bridge reconcile` as a child process.
"""

from __future__ import annotations

import asyncio
import copy
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import orjson

from bridge.state import CurrentState
from tests.support.bridge_proc import BridgeProcess, ConsumedRecord, read_topic
from tests.support.fake_argos_items import JsonObject, JsonValue, load_webhook_fixture
from tests.support.faults import HEADERS, TOKEN

__all__ = [
    "API_KEY",
    "Posted",
    "Topics",
    "compacted",
    "envelopes",
    "fresh_webhook",
    "log_lines",
    "make_bridge",
    "metric",
    "post",
    "read_envelopes",
    "read_states",
    "rfc3339",
    "run_cli",
    "wait_for",
]

API_KEY = "e2e-argos-api-key-0123456789abcdef"  # the fake API's key (also decrypts)


def rfc3339(moment: datetime) -> str:
    """Return `moment` as RFC 3339 UTC with milliseconds and `Z` (as ARGOS webhooks send)."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _parse(text: str) -> datetime | None:
    if "T" not in text:
        return None  # dates (`date_of_birth`, `expireDate`) stay as they are
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _times(value: JsonValue) -> list[datetime]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _times(v)]
    if isinstance(value, list):
        return [t for v in value for t in _times(v)]
    moment = _parse(value) if isinstance(value, str) else None
    return [moment] if moment is not None else []


def _shift(value: JsonValue, delta: timedelta) -> JsonValue:
    if isinstance(value, dict):
        return {k: _shift(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(v, delta) for v in value]
    moment = _parse(value) if isinstance(value, str) else None
    return rfc3339(moment + delta) if moment is not None else value


def fresh_webhook(
    fixture: str, submission_id: str, at: datetime, **overrides: JsonValue
) -> JsonObject:
    """
    Return the payload of `tests/fixtures/argos/<fixture>.json` for `submission_id`, with
    every timestamp moved by one offset so that the latest becomes `at` (UTC, ms), then
    `overrides` applied at the top level.
    """
    payload = copy.deepcopy(load_webhook_fixture(fixture))
    found = _times(payload)
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)
    moved = _shift(payload, at - max(found)) if found else payload
    assert isinstance(moved, dict)
    moved["submission_id"] = submission_id
    moved.update(overrides)
    return moved


@dataclass(frozen=True)
class Topics:
    """One test's own events, DLQ and state topics on the shared broker."""

    events: str
    dlq: str
    state: str

    @classmethod
    def unique(cls, name: str) -> Topics:
        """Return topics named after the test and a random suffix."""
        base = f"e2e.recon.{name}.{uuid.uuid4().hex[:6]}"
        return cls(base + ".events", base + ".dlq", base + ".state")

    def env(self) -> dict[str, str]:
        """Return the bridge settings that name these topics."""
        return {
            "BRIDGE_TOPIC": self.events,
            "BRIDGE_DLQ_TOPIC": self.dlq,
            "BRIDGE_STATE_TOPIC": self.state,
        }


def make_bridge(
    workdir: Path, bootstrap: str, topics: Topics, api_url: str, **env: str
) -> BridgeProcess:
    """Return a (not started) bridge on `topics` whose default project reads `api_url`."""
    return BridgeProcess(
        workdir,
        {
            "BRIDGE_AUTH_TOKENS": TOKEN,
            "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "BRIDGE_PUBLISH_DEADLINE_MS": "2000",
            "BRIDGE_KAFKA_REQUEST_TIMEOUT_MS": "5000",
            "BRIDGE_ARGOS_API_KEYS": API_KEY,
            "BRIDGE_ARGOS_API_URL": api_url,
            **topics.env(),
            **env,
        },
    )


@dataclass(frozen=True)
class Posted:
    """A webhook's answer and how long it took."""

    status: int
    body: JsonObject
    seconds: float

    @property
    def event_id(self) -> str:
        """Return the event id the bridge answered."""
        return str(self.body["event_id"])


async def post(
    session: aiohttp.ClientSession, bridge: BridgeProcess, payload: JsonObject
) -> Posted:
    """POST `payload` (plain JSON) as ARGOS would; return the answer."""
    started = time.monotonic()
    async with session.post(
        bridge.url + "/webhooks/argos", data=orjson.dumps(payload), headers=HEADERS
    ) as response:
        body = orjson.loads(await response.read())
        return Posted(response.status, body, time.monotonic() - started)


def envelopes(records: list[ConsumedRecord]) -> list[JsonObject]:
    """Return the JSON envelopes of `records`, in (partition, offset) order."""
    ordered = sorted(records, key=lambda r: (r.partition, r.offset))
    return [orjson.loads(r.value) for r in ordered if r.value is not None]


async def read_envelopes(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[JsonObject]], bool] | None = None,
    timeout: float = 30.0,
) -> list[JsonObject]:
    """Read `topic` from the start until `until(envelopes)` holds, else (or without) the timeout."""
    records = await read_topic(
        bootstrap,
        topic,
        min_count=0,
        timeout=timeout,
        until=lambda found: until is not None and until(envelopes(found)),
    )
    return envelopes(records)


def compacted(records: list[ConsumedRecord]) -> dict[str, CurrentState]:
    """Return what a compacted topic keeps: the last value per key (tombstones remove it)."""
    view: dict[str, CurrentState] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        key = (record.key or b"").decode()
        if record.value is None:
            view.pop(key, None)
        else:
            view[key] = CurrentState.from_json(record.value)
    return view


async def read_states(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[dict[str, CurrentState]], bool] | None = None,
    timeout: float = 30.0,
) -> tuple[list[ConsumedRecord], dict[str, CurrentState]]:
    """
    Read the state topic from the start until `until(compacted view)` holds, else (or
    without) the timeout; return the records and the view.
    """
    records = await read_topic(
        bootstrap,
        topic,
        min_count=0,
        timeout=timeout,
        until=lambda found: until is not None and until(compacted(found)),
    )
    return records, compacted(records)


async def metric(bridge: BridgeProcess, name: str, **labels: str) -> float:
    """
    Return the value of the sample `name{labels}` on `/metrics` (0 when not exported);
    with no labels, the sum of every sample of `name` (over all its label values).
    """
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    prefixes = (f"{name}{{{wanted}}} ",) if labels else (f"{name} ", f"{name}{{")
    async with aiohttp.ClientSession() as session, session.get(bridge.url + "/metrics") as r:
        text = await r.text()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefixes))


def log_lines(text: str) -> list[dict[str, JsonValue]]:
    """Return the JSON log lines of `text` (other lines are skipped)."""
    lines: list[dict[str, JsonValue]] = []
    for line in text.splitlines():
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            lines.append(value)
    return lines


async def wait_for(
    predicate: Callable[[], object], timeout: float, *, what: str, step: float = 0.2
) -> None:
    """Await `predicate()` (a value or an awaitable) until it is truthy; AssertionError after."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        await asyncio.sleep(step)
    raise AssertionError(f"not reached within {timeout:g} s: {what}")


async def run_cli(
    args: list[str], env: Mapping[str, str], timeout: float = 120.0
) -> tuple[int, str, str]:
    """
    Run `python -m bridge <args>` with only `env` (plus PATH) without blocking the event
    loop (the fake API is served on it); return the exit code, stdout and stderr.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        *args,
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")
