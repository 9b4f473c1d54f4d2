"""
Never miss a result (issue 12), end to end: real brokers, real `kyc-bridge serve` processes,
`kyc-bridge reconcile` as a child process, and the fake ARGOS API (tests/support/fake_argos)
fed from the same webhook fixtures as the webhooks the bridge receives.

- Reconciliation (periodic in `serve`, and the CLI) publishes exactly one event per withheld
  result (`source.channel: "reconcile"`, deterministic id), none for delivered ones, nothing
  on a second run; the state topic then holds every submission's latest state.
- Reordered, repeated and already-reconciled webhooks are `stale` and change no state.
- 429 / 5xx / an API that is down or slow: backoff, outcomes, clean logs, webhooks unaffected.
- Two bridges on the same topics keep one consistent state topic and judge staleness
  against each other's results.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import orjson
import pytest

from bridge.reconcile import reconciled_event_id
from bridge.state import CurrentState, order_key
from tests.support.bridge_proc import BridgeProcess, ConsumedRecord, free_port, read_topic
from tests.support.broker import Broker
from tests.support.fake_argos import ErrorReply, FakeArgos, SlowReply
from tests.support.fake_argos_items import JsonObject, JsonValue, Submission
from tests.support.reconcile_e2e import (
    API_KEY,
    Topics,
    compacted,
    fresh_webhook,
    log_lines,
    make_bridge,
    metric,
    post,
    read_envelopes,
    read_states,
    rfc3339,
    run_cli,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PROJECT = "default"
RUNS = "kyc_bridge_reconcile_runs_total"
RECONCILED = "kyc_bridge_reconciled_events_total"
STALE = "kyc_bridge_stale_events_total"
LAST_SUCCESS = "kyc_bridge_reconcile_last_success_timestamp_seconds"
EVENT_TYPE = {"approved": "kyc.approved", "rejected": "kyc.rejected", "pending": "kyc.submit"}
# Webhook fields that carry personal data: none of their values may reach a log line.
PERSONAL = (
    "email",
    "full_name",
    "full_name_en",
    "first_name",
    "last_name",
    "phoneNumber",
    "date_of_birth",
    "ipAddress",
    "userid",
    "duplicated_information",
)


def _recent() -> datetime:
    """A base time a few minutes ago, never before 00:30 UTC today (the API filters by day)."""
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=30, second=0, microsecond=0)
    return max(now - timedelta(minutes=25), midnight)


def _status_time(submission: Submission) -> datetime:
    """The status time the ARGOS notes order results by: updated, decided, pending, created."""
    return (
        submission.updated_at
        or submission.kyc_result_at
        or submission.pending_at
        or submission.created_at
    )


@dataclass(frozen=True)
class Case:
    """One submission: the webhooks ARGOS sent, in order; the first `delivered` reached us."""

    sid: str
    steps: tuple[JsonObject, ...]
    delivered: int

    @property
    def withheld(self) -> bool:
        """Whether its last webhook never reached the bridge."""
        return self.delivered < len(self.steps)


def _cases(run: str) -> list[Case]:
    """Delivered and withheld submissions (incl. submit-then-withheld and an incomplete one)."""
    base = _recent()

    def at(minutes: int) -> datetime:
        return base + timedelta(minutes=minutes)

    def one(name: str, fixture: str, minutes: int, delivered: int) -> Case:
        sid = f"{run}-{name}"
        return Case(sid, (fresh_webhook(fixture, sid, at(minutes)),), delivered)

    later = f"{run}-w-after-submit"
    return [
        one("d-approved", "approved_new_id_document", 1, 1),
        one("d-rejected", "rejected", 2, 1),
        one("d-updated", "updated_new", 3, 1),
        one("d-pending", "submit", 4, 1),
        one("w-approved", "approved_new_knowledge_based", 5, 0),
        one("w-rejected", "updated_old", 6, 0),  # an `updated` to rejected, never delivered
        one("w-pending", "submit", 7, 0),
        Case(
            later,
            (
                fresh_webhook("submit", later, at(8)),
                fresh_webhook("approved_old_id_document", later, at(9)),
            ),
            1,  # the submit arrived, the approved did not
        ),
        one("w-incomplete", "created_no_retry", 10, 0),  # no result: nothing to reconcile
    ]


def _seed(argos: FakeArgos, cases: list[Case]) -> None:
    """Give the fake API every case's final state (what ARGOS knows, delivered or not)."""
    for case in cases:
        for step in case.steps:
            argos.apply_webhook(step, default_created_at=_recent())


def _missing(argos: FakeArgos, cases: list[Case]) -> dict[str, Submission]:
    """The withheld results reconciliation must publish, by submission id."""
    found = {case.sid: argos.get(case.sid) for case in cases if case.withheld}
    return {sid: sub for sid, sub in found.items() if sub.result != "incomplete"}


async def _deliver(bridge: BridgeProcess, cases: list[Case]) -> None:
    """POST the delivered webhooks (each answered 200, stored in Kafka)."""
    async with aiohttp.ClientSession() as session:
        for case in cases:
            for step in case.steps[: case.delivered]:
                answer = await post(session, bridge, step)
                assert (200, "kafka") == (answer.status, answer.body.get("stored"))


def _reconciled(events: list[JsonObject]) -> list[JsonObject]:
    return [e for e in events if _channel(e) == "reconcile"]


def _channel(event: JsonObject) -> object:
    source = event.get("source")
    return source.get("channel") if isinstance(source, dict) else None


def _check_reconciled(events: list[JsonObject], missing: dict[str, Submission]) -> None:
    """Exactly one reconcile event per missing result, with its deterministic id and type."""
    reconciled = _reconciled(events)
    assert sorted(missing) == sorted(str(e["subject"]) for e in reconciled)
    for event in reconciled:
        submission = missing[str(event["subject"])]
        moment = _status_time(submission)
        expected_id = reconciled_event_id(
            PROJECT, submission.submission_id, submission.result, moment
        )
        assert (expected_id, EVENT_TYPE[submission.result], False) == (
            event["event_id"],
            event["event_type"],
            event["stale"],
        )


def _expected_states(argos: FakeArgos, cases: list[Case]) -> dict[str, tuple[object, ...]]:
    """Each submission with a result: (status, status time, channel) the state must hold."""
    expected: dict[str, tuple[object, ...]] = {}
    for case in cases:
        submission = argos.get(case.sid)
        if submission.result == "incomplete":
            continue
        channel = "reconcile" if case.withheld else "webhook"
        moment = order_key(rfc3339(_status_time(submission)))
        expected[case.sid] = (submission.result, moment, channel)
    return expected


def _as_tuple(state: CurrentState) -> tuple[object, ...]:
    return (state.status, state.status_time, state.channel)


def _check_logs(text: str, cases: list[Case]) -> None:
    """No API key and no personal value of any webhook in the log output."""
    assert API_KEY not in text
    for case in cases:
        for step in case.steps:
            for name in PERSONAL:
                value = step.get(name)
                if isinstance(value, str) and len(value) >= 4:
                    assert value not in text, f"{name} of {case.sid} is in a log line"


async def _spool_empty(bridge: BridgeProcess) -> bool:
    async with aiohttp.ClientSession() as session, session.get(bridge.url + "/readyz") as r:
        body = await r.json()
        return bool(body["spool"]["events"] == 0)


async def _runs_at_least(bridge: BridgeProcess, count: float) -> bool:
    return await _runs(bridge) >= count


async def _runs(bridge: BridgeProcess) -> float:
    """Finished reconciliation runs, whatever their outcome."""
    total = 0.0
    for outcome in ("ok", "partial", "failed"):
        total += await metric(bridge, RUNS, outcome=outcome)
    return total


@pytest.fixture(name="argos")
async def _argos() -> AsyncIterator[FakeArgos]:
    """The fake ARGOS API on a free port of 127.0.0.1, served on the test's event loop."""
    async with FakeArgos(API_KEY) as fake:
        yield fake


@pytest.fixture(name="bridges")
def _bridges() -> Iterator[list[BridgeProcess]]:
    """Bridge processes a test started; all stopped at the end."""
    started: list[BridgeProcess] = []
    yield started
    for bridge in started:
        bridge.stop()


async def _start(bridges: list[BridgeProcess], bridge: BridgeProcess) -> BridgeProcess:
    """Start `bridge` in a thread (the fake API keeps answering) and register it."""
    bridges.append(bridge)
    await asyncio.to_thread(bridge.start, wait="/readyz")
    return bridge


async def _topics(kafka: Broker, name: str) -> Topics:
    """Create the test's events and DLQ topics (the bridge creates the state topic)."""
    topics = Topics.unique(name)
    await asyncio.to_thread(kafka.create_topic, topics.events, 3)
    await asyncio.to_thread(kafka.create_topic, topics.dlq, 1)
    return topics


# 1. One run publishes exactly the missing results ------------------------------------------


async def test_the_periodic_reconciler_publishes_each_withheld_result_once(
    kafka: Broker, argos: FakeArgos, bridges: list[BridgeProcess], tmp_path: Path
) -> None:
    """
    `serve` with a 3 s interval: webhooks of some submissions delivered, the others withheld
    (only in the API). The runs after seeding publish exactly one reconcile event per withheld
    result and none for delivered ones; a further run publishes nothing; the state topic's
    compacted view is the latest state of every submission.
    """
    topics = await _topics(kafka, "serve")
    bridge = await _start(
        bridges,
        make_bridge(
            tmp_path / "a", kafka.bootstrap, topics, argos.url, BRIDGE_RECONCILE_INTERVAL_S="3"
        ),
    )
    await wait_for(lambda: _runs(bridge), 30, what="the first (empty) run")
    cases = _cases("serve")
    await _deliver(bridge, cases)
    _seed(argos, cases)
    missing = _missing(argos, cases)
    seeded_at = await _runs(bridge)
    seeded_requests = len(argos.request_log)
    # +2: at least one run that started after the seeding has finished.
    await wait_for(lambda: _runs_at_least(bridge, seeded_at + 2), 30, what="two runs")

    events = await read_envelopes(
        kafka.bootstrap, topics.events, until=lambda found: len(_reconciled(found)) >= len(missing)
    )
    _check_reconciled(events, missing)
    assert float(len(missing)) == await metric(bridge, RECONCILED)

    settled_at = await _runs(bridge)
    await wait_for(lambda: _runs_at_least(bridge, settled_at + 1), 30, what="one more run")
    await wait_for(lambda: _spool_empty(bridge), 30, what="spool drained")
    again = await read_envelopes(kafka.bootstrap, topics.events, timeout=3)
    assert _ids(events) == _ids(again), "a run after the catch-up published something"

    wanted = _expected_states(argos, cases)
    _, view = await read_states(
        kafka.bootstrap,
        topics.state,
        until=lambda v: {s: _as_tuple(v[s]) for s in wanted if s in v} == wanted,
    )
    assert wanted == {sid: _as_tuple(state) for sid, state in view.items() if sid in wanted}
    assert set(wanted) == set(view), "a submission without a result got a state"
    assert 0 == await metric(bridge, RUNS, outcome="failed")
    assert await metric(bridge, LAST_SUCCESS) > time.time() - 60
    assert len(argos.request_log) > seeded_requests
    assert all(entry.status == 200 for entry in argos.request_log)
    published = [
        line["published"]
        for line in _reconcile_logs(bridge)
        if line["event"] == "reconcile.published"
    ]
    assert [len(missing)] == [n for n in published if n], "not one run published them all"
    _check_logs(bridge.logs(), cases)


async def test_a_new_replica_reconciles_only_after_reading_the_state_topic(
    kafka: Broker, argos: FakeArgos, bridges: list[BridgeProcess], tmp_path: Path
) -> None:
    """
    Bridge A received every webhook. Bridge B starts with an empty spool and reconciles at
    once: its runs compare the API with the state topic (which A filled), not with its empty
    local table, so they publish nothing.
    """
    topics = await _topics(kafka, "replica")
    a = await _start(bridges, make_bridge(tmp_path / "a", kafka.bootstrap, topics, argos.url))
    cases = [Case(c.sid, c.steps, len(c.steps)) for c in _cases("replica")]
    await _deliver(a, cases)
    _seed(argos, cases)
    wanted = _expected_states(argos, cases)
    await read_states(kafka.bootstrap, topics.state, until=lambda v: set(wanted) <= set(v))
    b = await _start(
        bridges,
        make_bridge(
            tmp_path / "b", kafka.bootstrap, topics, argos.url, BRIDGE_RECONCILE_INTERVAL_S="1"
        ),
    )
    await wait_for(lambda: _metric_at_least(b, RUNS, 2, outcome="ok"), 30, what="two runs")
    events = await read_envelopes(kafka.bootstrap, topics.events, timeout=3)
    assert [] == _reconciled(events)
    assert 0.0 == await metric(b, RECONCILED)


def _cli_env(kafka: Broker, topics: Topics, argos: FakeArgos, tmp_path: Path) -> dict[str, str]:
    return {
        "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "BRIDGE_SPOOL_DIR": str(tmp_path / "cli-spool"),
        "BRIDGE_ARGOS_API_KEYS": API_KEY,
        "BRIDGE_ARGOS_API_URL": argos.url,
        **topics.env(),
    }


async def test_the_reconcile_command_backfills_once_and_late_webhooks_are_stale(
    kafka: Broker, argos: FakeArgos, bridges: list[BridgeProcess], tmp_path: Path
) -> None:
    """
    `kyc-bridge reconcile --since --until` against an encrypting API next to a running bridge:
    the summary and the topic show exactly the withheld results, a second run and a dry run
    find nothing, and the withheld webhooks, delivered late to the bridge, are all stale.
    """
    argos.encrypt = True
    topics = await _topics(kafka, "cli")
    bridge = await _start(bridges, make_bridge(tmp_path / "a", kafka.bootstrap, topics, argos.url))
    cases = _cases("cli")
    await _deliver(bridge, cases)
    _seed(argos, cases)
    missing = _missing(argos, cases)
    delivered = {c.sid for c in cases if not c.withheld}
    await read_states(kafka.bootstrap, topics.state, until=lambda v: delivered <= set(v))

    today = datetime.now(UTC).date()
    window = ["--since", str(today - timedelta(days=1)), "--until", str(today)]
    env = _cli_env(kafka, topics, argos, tmp_path)
    started = time.monotonic()
    code, out, err = await run_cli(["reconcile", *window], env)
    first_run_s = time.monotonic() - started
    assert 0 == code, err[-2000:]
    stderr = [err]
    summary = _summary(out)
    with_result = sum(1 for c in cases if argos.get(c.sid).result != "incomplete")
    assert (with_result, len(missing), len(missing)) == (
        summary["checked"],
        summary["missing"],
        summary["published"],
    )
    events = await read_envelopes(
        kafka.bootstrap, topics.events, until=lambda found: len(_reconciled(found)) >= len(missing)
    )
    _check_reconciled(events, missing)
    assert all(_channel(e) == "webhook" for e in events if e.get("subject") in delivered)

    code, out, err = await run_cli(["reconcile", *window], env)
    assert (0, 0, 0) == (code, _summary(out)["missing"], _summary(out)["published"])
    code, out, dry_err = await run_cli(["reconcile", "--dry-run", *window], env)
    assert (0, 0) == (code, _summary(out)["missing"])
    stderr += [err, dry_err]
    again = await read_envelopes(kafka.bootstrap, topics.events, timeout=3)
    assert _ids(events) == _ids(again), "a second run published something"

    wanted = _expected_states(argos, cases)
    _, view = await read_states(
        kafka.bootstrap,
        topics.state,
        until=lambda v: {s: _as_tuple(v[s]) for s in wanted if s in v} == wanted,
    )
    assert wanted == {sid: _as_tuple(view[sid]) for sid in wanted}

    # The webhooks ARGOS gave up on arrive after all: each one is stale, the state stays.
    await asyncio.sleep(2.0)  # the bridge's state follower reads the CLI's records (1 s polls)
    late: list[str] = []
    async with aiohttp.ClientSession() as session:
        for case in cases:
            if case.sid in missing:
                answer = await post(session, bridge, case.steps[-1])
                assert 200 == answer.status
                late.append(answer.event_id)
    after = await read_envelopes(
        kafka.bootstrap,
        topics.events,
        until=lambda found: set(late) <= {e["event_id"] for e in found},
    )
    assert [True] * len(late) == [e["stale"] for e in after if e["event_id"] in late]
    assert float(len(late)) == await metric(bridge, STALE)
    _, view = await read_states(kafka.bootstrap, topics.state, timeout=3)
    assert wanted == {sid: _as_tuple(view[sid]) for sid in wanted}
    _check_logs("".join(stderr) + bridge.logs(), cases)
    print(f"reconcile CLI: first run {first_run_s:.1f} s for {with_result} results")


def _ids(events: list[JsonObject]) -> list[str]:
    return sorted(str(e["event_id"]) for e in events)


def _summary(out: str) -> dict[str, int]:
    document = orjson.loads(out.strip().splitlines()[-1])
    assert isinstance(document, dict)
    return {k: v for k, v in document.items() if isinstance(v, int)}


# 2. Out-of-order and repeated results --------------------------------------------------------


async def test_reordered_and_repeated_webhooks_are_stale_and_keep_the_state(
    kafka: Broker, argos: FakeArgos, bridges: list[BridgeProcess], tmp_path: Path
) -> None:
    """
    rejected (t2), then an older approved (t1): the approved is published `stale: true`; the
    rejected again with other bytes (same result and time) is stale too; the exact same bytes
    are a duplicate (no new record). The state topic only ever holds the rejected.
    """
    topics = await _topics(kafka, "order")
    bridge = await _start(bridges, make_bridge(tmp_path / "a", kafka.bootstrap, topics, argos.url))
    sid, t2 = "order-1", _recent()
    rejected = fresh_webhook("rejected", sid, t2)
    approved = fresh_webhook("approved_new_id_document", sid, t2 - timedelta(minutes=5))
    repeated = {**rejected, "x_redelivery": 1}  # same result and time, different bytes
    async with aiohttp.ClientSession() as session:
        answers = [await post(session, bridge, p) for p in (rejected, approved, repeated)]
        duplicate = await post(session, bridge, rejected)
    assert [200, 200, 200, 200] == [a.status for a in (*answers, duplicate)]
    assert (answers[0].event_id, True) == (duplicate.event_id, duplicate.body.get("duplicate"))

    ids = [a.event_id for a in answers]
    events = await read_envelopes(
        kafka.bootstrap, topics.events, until=lambda found: len(found) >= 3
    )
    assert ids == [e["event_id"] for e in events]
    assert [False, True, True] == [e["stale"] for e in events]
    assert ["kyc.rejected", "kyc.approved", "kyc.rejected"] == [e["event_type"] for e in events]
    records, view = await read_states(kafka.bootstrap, topics.state, timeout=3)
    states = [CurrentState.from_json(r.value or b"") for r in records]
    assert {("rejected", order_key(rfc3339(t2)), ids[0])} == {
        (s.status, s.status_time, s.event_id) for s in states
    }
    assert ("rejected", "webhook") == (view[sid].status, view[sid].channel)
    assert 1.0 == await metric(bridge, STALE, event_type="kyc.approved")
    assert 1.0 == await metric(bridge, STALE, event_type="kyc.rejected")


# 3. A bad API: 429, 5xx, down, slow ---------------------------------------------------------


async def _post_during(
    bridge: BridgeProcess, run: str, seconds: float, pause: float = 0.25
) -> list[float]:
    """POST a fresh `approved` webhook every `pause` s for `seconds`; return the latencies."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for n in range(1000):
            if time.monotonic() >= deadline:
                break
            payload = fresh_webhook("approved_new_id_document", f"{run}-{n}", _recent())
            answer = await post(session, bridge, payload)
            assert (200, "kafka") == (answer.status, answer.body.get("stored"))
            latencies.append(answer.seconds)
            await asyncio.sleep(pause)
    return latencies


def _reconcile_logs(bridge: BridgeProcess) -> list[dict[str, JsonValue]]:
    return [
        line
        for line in log_lines(bridge.logs())
        if str(line.get("event", "")).startswith("reconcile.")
    ]


async def test_the_reconciler_survives_429_5xx_a_slow_and_a_down_api_without_blocking_webhooks(
    kafka: Broker, argos: FakeArgos, bridges: list[BridgeProcess], tmp_path: Path
) -> None:
    """
    One bridge reconciling every second (today only):
    - 429 with Retry-After 1.5 s, then 503, then 500: the requests arrive 1.5 s, then
      >= 0.5 s, then >= 1 s apart (stamina's exponential backoff), and the run succeeds;
    - a reply that hangs 6 s, and an API that is down for a whole run (failed after its
      retries, logged, counted) while webhooks are posted: every webhook gets 200 at once;
    - a Retry-After beyond the 120 s cap is not waited for: that run fails at once;
    - when the API is back, the next run succeeds; no log line has the key or personal data.
    """
    topics = await _topics(kafka, "faults")
    sid = "faults-withheld"
    withheld = fresh_webhook("approved_new_knowledge_based", sid, _recent())
    argos.apply_webhook(withheld)
    argos.faults.fail_next(ErrorReply(429, retry_after=1.5), ErrorReply(503), ErrorReply(500))
    env = {"BRIDGE_RECONCILE_INTERVAL_S": "1", "BRIDGE_RECONCILE_LOOKBACK_DAYS": "0"}
    bridge = await _start(
        bridges, make_bridge(tmp_path / "a", kafka.bootstrap, topics, argos.url, **env)
    )
    latencies = await _post_during(bridge, "faults-backoff", 2.0)
    await wait_for(lambda: _runs_at_least(bridge, 1), 30, what="the first run")
    assert 1.0 == await metric(bridge, RUNS, outcome="ok")
    first = argos.request_log[:4]
    assert [429, 503, 500, 200] == [entry.status for entry in first]
    waits = argos.request_intervals()[:3]
    assert 1.45 <= waits[0] < 3.0, waits  # Retry-After, exactly (+ scheduling)
    assert 0.5 <= waits[1] < 2.5, waits  # 0.5 s + jitter (<= 1 s)
    assert 1.0 <= waits[2] < 3.5, waits  # 1 s + jitter
    events = await read_envelopes(
        kafka.bootstrap, topics.events, until=lambda found: bool(_reconciled(found))
    )
    assert [sid] == [e["subject"] for e in _reconciled(events)]
    failed_lines = [
        line for line in _reconcile_logs(bridge) if line["event"] == "reconcile.request_failed"
    ]
    assert [
        ("rate_limited", 429, 1.5),
        ("server_error", 503, None),
        ("server_error", 500, None),
    ] == [(line["reason"], line["http_status"], line["retry_after"]) for line in failed_lines[:3]]

    # A reply that hangs 6 s: the reconciler waits, webhooks do not.
    argos.faults.fail_next(SlowReply(6.0))
    await asyncio.sleep(1.5)  # the next run (1 s interval) is now waiting for the slow reply
    slow_from = time.monotonic()
    latencies += await _post_during(bridge, "faults-slow", 3.0)
    await wait_for(
        lambda: any(isinstance(e.fault, SlowReply) for e in argos.request_log), 15, what="slow"
    )
    slow = [e for e in argos.request_log if isinstance(e.fault, SlowReply)]
    assert slow[0].at < slow_from, "the webhooks were not posted while the API hung"

    # Retry-After above the cap: not waited for, the day (the whole run) fails at once.
    failed_before = await metric(bridge, RUNS, outcome="failed")
    argos.faults.fail_next(ErrorReply(429, retry_after=600))
    await wait_for(
        lambda: _metric_at_least(bridge, RUNS, failed_before + 1, outcome="failed"),
        15,
        what="a failed run",
    )

    # The API is down for a whole run (~18 s of retries): failed, webhooks unaffected.
    async with argos.outage():
        down_from = await metric(bridge, RUNS, outcome="failed")
        started = time.monotonic()
        latencies += await _post_during(bridge, "faults-down", 3.0)
        await wait_for(
            lambda: _metric_at_least(bridge, RUNS, down_from + 1, outcome="failed"),
            60,
            what="a run failed by the outage",
        )
        outage_run_s = time.monotonic() - started
    ok_before = await metric(bridge, RUNS, outcome="ok")
    await wait_for(
        lambda: _metric_at_least(bridge, RUNS, ok_before + 1, outcome="ok"), 30, what="recovery"
    )
    assert max(latencies) < 1.5, f"a webhook waited {max(latencies):.2f} s"

    lines = _reconcile_logs(bridge)
    day_failed = [line for line in lines if line["event"] == "reconcile.day_failed"]
    assert {"argos_api_unavailable"} == {line["error"] for line in day_failed}
    reasons = {line["reason"] for line in lines if line["event"] == "reconcile.request_failed"}
    assert {"rate_limited", "server_error", "connection"} <= reasons
    outcomes = {line.get("outcome") for line in lines if line["event"] == "reconcile.finished"}
    assert {"ok", "failed"} <= outcomes
    _check_logs(bridge.logs(), [Case(sid, (withheld,), 0)])
    assert 1.0 == await metric(bridge, RECONCILED)  # the withheld result, once
    print(
        f"webhook latency while the API misbehaved: max {max(latencies) * 1000:.0f} ms "
        f"over {len(latencies)}; backoff waits {[round(w, 2) for w in waits]} s; "
        f"a run against a down API failed after {outage_run_s:.1f} s"
    )


async def _metric_at_least(bridge: BridgeProcess, name: str, floor: float, **labels: str) -> bool:
    return await metric(bridge, name, **labels) >= floor


async def test_a_day_that_fails_makes_the_run_partial_and_the_next_run_catches_up(
    kafka: Broker, argos: FakeArgos, bridges: list[BridgeProcess], tmp_path: Path
) -> None:
    """
    Two days per run (lookback 1): one request refused with a Retry-After beyond the cap is
    not retried, its day is abandoned, the run is `partial` (metric and log); a later run
    reads that day again and publishes its withheld result once.
    """
    topics = await _topics(kafka, "partial")
    today = datetime.now(UTC).replace(hour=0, minute=5, second=0, microsecond=0)
    yesterday_sid, today_sid = "partial-yesterday", "partial-today"
    argos.apply_webhook(
        fresh_webhook("approved_new_knowledge_based", yesterday_sid, today - timedelta(hours=2))
    )
    argos.apply_webhook(fresh_webhook("rejected", today_sid, today + timedelta(minutes=5)))
    argos.faults.fail_next(ErrorReply(429, retry_after=600))
    env = {"BRIDGE_RECONCILE_INTERVAL_S": "1", "BRIDGE_RECONCILE_LOOKBACK_DAYS": "1"}
    bridge = await _start(
        bridges, make_bridge(tmp_path / "a", kafka.bootstrap, topics, argos.url, **env)
    )
    await wait_for(
        lambda: _metric_at_least(bridge, RUNS, 1, outcome="ok"), 30, what="a run after partial"
    )
    assert 1.0 == await metric(bridge, RUNS, outcome="partial")
    refused = [e for e in argos.request_log if e.status == 429]
    assert 1 == len(refused)
    day_failed = [
        line for line in _reconcile_logs(bridge) if line["event"] == "reconcile.day_failed"
    ]
    assert [refused[0].query["start_date"]] == [line["day"] for line in day_failed]
    events = await read_envelopes(
        kafka.bootstrap, topics.events, until=lambda found: len(_reconciled(found)) >= 2
    )
    assert sorted([yesterday_sid, today_sid]) == sorted(str(e["subject"]) for e in events)
    finished = [line for line in _reconcile_logs(bridge) if line["event"] == "reconcile.finished"]
    assert "partial" == next(line.get("outcome") for line in finished if line.get("outcome"))


# 4. Two bridges, one state topic ------------------------------------------------------------


async def test_two_bridges_keep_one_state_topic_and_judge_staleness_by_each_other(
    kafka: Broker, argos: FakeArgos, bridges: list[BridgeProcess], tmp_path: Path
) -> None:
    """
    Bridges A and B on the same topics (own spools and ports). B first runs cut off from
    Kafka and spools: X approved (t1) and Y rejected (t3). A accepts X rejected (t2 > t1) and
    Y approved (t0 < t3), published at once. B comes back and publishes its backlog after A's:
    for X the older state lands last (A republishes its newer one), for Y the newer one lands
    last. Afterwards the last state-topic value of each is the newest, and each bridge judges
    a result older than the other's as stale.
    """
    topics = await _topics(kafka, "pair")
    base = _recent()
    t = [base + timedelta(minutes=m) for m in range(5)]
    x, y = "pair-x", "pair-y"
    a = await _start(bridges, make_bridge(tmp_path / "a", kafka.bootstrap, topics, argos.url))
    unreachable = f"127.0.0.1:{free_port()}"
    b = await _start(
        bridges,
        make_bridge(
            tmp_path / "b", unreachable, topics, argos.url, BRIDGE_PUBLISH_DEADLINE_MS="300"
        ),
    )
    async with aiohttp.ClientSession() as session:
        b_x = await post(session, b, fresh_webhook("approved_new_id_document", x, t[1]))
        b_y = await post(session, b, fresh_webhook("rejected", y, t[3]))
        assert [(202, "spool")] * 2 == [(r.status, r.body["stored"]) for r in (b_x, b_y)]
        a_x = await post(session, a, fresh_webhook("rejected", x, t[2]))
        a_y = await post(session, a, fresh_webhook("approved_new_id_document", y, t[0]))
        assert [(200, "kafka")] * 2 == [(r.status, r.body["stored"]) for r in (a_x, a_y)]
    await read_states(kafka.bootstrap, topics.state, until=lambda v: {x, y} <= set(v))

    await asyncio.to_thread(b.kill)  # its backlog stays in its spool
    b.env["BRIDGE_KAFKA_BOOTSTRAP_SERVERS"] = kafka.bootstrap
    restarted = time.monotonic()
    await asyncio.to_thread(b.start, wait="/readyz")
    key = {n: order_key(rfc3339(moment)) for n, moment in enumerate(t)}
    newest = {x: ("rejected", key[2]), y: ("rejected", key[3])}

    def settled(history: dict[str, list[tuple[str | None, str | None]]]) -> bool:
        """X: A's t2, then B's older t1, then t2 again (A's repair); Y: t0, later t3."""
        xs, ys = [tm for _, tm in history.get(x, [])], [tm for _, tm in history.get(y, [])]
        repaired = key[1] in xs and key[2] in xs[xs.index(key[1]) :] and xs[0] == key[2]
        ordered = ys[:1] == [key[0]] and key[3] in ys
        last = {s: history[s][-1] for s in (x, y) if history.get(s)}
        return repaired and ordered and last == newest

    records = await read_topic(
        kafka.bootstrap,
        topics.state,
        min_count=0,
        timeout=30,
        until=lambda found: settled(_history(found)),
    )
    repair_s = time.monotonic() - restarted
    history = _history(records)
    assert settled(history), history
    assert newest == {s: (st.status, st.status_time) for s, st in compacted(records).items()}

    # Each judges staleness against the other's results (the followers read them).
    await asyncio.sleep(2.0)  # the followers poll every second
    async with aiohttp.ClientSession() as session:
        late_x = await post(
            session, b, fresh_webhook("approved_new_id_document", x, t[1] + timedelta(seconds=30))
        )
        late_y = await post(session, a, fresh_webhook("approved_new_id_document", y, t[2]))
    late = {late_x.event_id, late_y.event_id}
    events = await read_envelopes(
        kafka.bootstrap, topics.events, until=lambda found: late <= {e["event_id"] for e in found}
    )
    assert [True, True] == [e["stale"] for e in events if e["event_id"] in late]
    assert [False] * 4 == [e["stale"] for e in events if e["event_id"] not in late]
    assert (1.0, 1.0) == (await metric(b, STALE), await metric(a, STALE))
    records = await read_topic(
        kafka.bootstrap, topics.state, min_count=0, timeout=3, until=lambda _: False
    )
    assert newest == {s: (st.status, st.status_time) for s, st in compacted(records).items()}
    print(
        f"two bridges: state topic repaired {repair_s:.1f} s after B restarted; "
        f"{len(history[x])} state records for X, {len(history[y])} for Y"
    )


def _history(records: list[ConsumedRecord]) -> dict[str, list[tuple[str | None, str | None]]]:
    """(status, status time) of every state record, per submission, in offset order."""
    history: dict[str, list[tuple[str | None, str | None]]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        if record.value is not None:
            state = CurrentState.from_json(record.value)
            history.setdefault(state.subject, []).append((state.status, state.status_time))
    return history
