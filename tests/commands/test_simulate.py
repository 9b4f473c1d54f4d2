"""The webhook simulator: realistic payloads for every trigger, and the load sender."""

from __future__ import annotations

import argparse
import random
from collections import Counter
from datetime import UTC, datetime
from itertools import islice

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bridge import crypto
from bridge.commands.simulate import (
    TRIGGERS,
    add_arguments,
    encode,
    make_payload,
    run,
    send,
    simulate,
    webhooks,
)
from bridge.commands.simulate.payloads import MAX_BYTES, MIN_BYTES
from bridge.commands.simulate.sender import percentile
from bridge.errors import ConfigError
from bridge.events import EventFactory
from bridge.normalize import TRIGGERS as NORMALIZER_TRIGGERS
from bridge.schemas import load_registry

API_KEY = "simulate-test-api-key-4b1e"
TOKEN = "simulate-test-token-0123456789"


def test_every_documented_trigger_is_simulated() -> None:
    """The simulator covers exactly the triggers the normalizer knows."""
    assert set(NORMALIZER_TRIGGERS) == set(TRIGGERS)


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_payload_is_a_json_object_with_its_trigger(trigger: str) -> None:
    """Each trigger's body parses back to a JSON object carrying that webhook_trigger."""
    payload = make_payload(trigger, random.Random(1))
    parsed = orjson.loads(encode(payload, None))
    assert isinstance(parsed, dict)
    assert trigger == parsed["webhook_trigger"]


def test_plaintext_sizes_are_between_1_and_3_kb() -> None:
    """Every payload's compact JSON is 1-3 KB, and the sizes spread over that range."""
    sizes = [len(encode(w.payload, None)) for w in islice(webhooks(3), 2000)]
    assert all(MIN_BYTES <= size <= MAX_BYTES for size in sizes)
    assert min(sizes) < 1400
    assert max(sizes) > 2700


def test_stream_is_deterministic_per_seed() -> None:
    """The same seed gives the same bodies; another seed gives other bodies."""

    def bodies(seed: int) -> list[bytes]:
        stream = webhooks(seed, encrypt_with=API_KEY, encrypted_share=0.3)
        return [w.body for w in islice(stream, 300)]

    assert bodies(42) == bodies(42)
    assert not set(bodies(42)) & set(bodies(43))


def test_encrypted_bodies_decrypt_to_the_payload() -> None:
    """About the requested share is encrypted, as {"data": ...}, and decrypts to the payload."""
    sample = list(islice(webhooks(5, encrypt_with=API_KEY, encrypted_share=0.3), 1000))
    encrypted = [w for w in sample if w.encrypted]
    assert 200 < len(encrypted) < 400
    for webhook in encrypted:
        envelope = orjson.loads(webhook.body)
        assert ["data"] == list(envelope)
        assert webhook.payload == orjson.loads(crypto.decrypt(envelope["data"], [API_KEY]))
    assert all(orjson.loads(w.body) == w.payload for w in sample if not w.encrypted)


def test_payloads_normalize_cleanly_and_validate() -> None:
    """Every simulated payload becomes a schema-valid event without warnings, ids distinct."""
    factory = EventFactory(load_registry())
    received = datetime(2025, 6, 1, tzinfo=UTC)
    seen: Counter[str] = Counter()
    ids = set()
    for webhook in islice(webhooks(9), 600):
        event = factory.build(webhook.payload, project="p", received_at=received, encrypted=False)
        assert () == event.warnings, webhook.trigger
        assert NORMALIZER_TRIGGERS[webhook.trigger].event_type == event.event_type
        seen[webhook.trigger] += 1
        ids.add(event.event_id)
    assert 600 == len(ids)
    assert {"created", "submit", "approved", "rejected", "aml"} <= set(seen)


def test_lifecycles_start_with_created_and_review_after_submit() -> None:
    """Per submission, `created` comes first and a review comes only after `submit`."""
    history: dict[str, list[str]] = {}
    for webhook in islice(webhooks(11), 3000):
        submission = webhook.payload.get("submission_id")
        if isinstance(submission, str):
            history.setdefault(submission, []).append(webhook.trigger)
    assert len(history) > 100
    for triggers in history.values():
        assert "created" == triggers[0]
        for review in ("approved", "rejected"):
            if review in triggers:
                assert triggers.index("submit") < triggers.index(review)


def test_percentile_is_nearest_rank() -> None:
    """Nearest-rank percentiles: p50 of 1..100 is 50, p99 is 99, p100 the maximum."""
    values = [float(v) for v in range(1, 101)]
    assert [50.0, 99.0, 100.0] == [percentile(values, q) for q in (50, 99, 100)]
    assert 0.0 == percentile([], 50)


def _app() -> web.Application:
    """A stand-in bridge: 401 on a wrong token, 202 for encrypted bodies, else 200."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        if request.match_info["token"] != TOKEN:
            return web.json_response({"error": "unauthorized"}, status=401)
        envelope = orjson.loads(body)
        status = 202 if "webhook_trigger" not in envelope else 200
        return web.json_response({"event_id": f"id-{len(body)}", "stored": "x"}, status=status)

    app = web.Application()
    app.router.add_post("/webhooks/argos/{token}", handle)
    return app


async def test_simulate_counts_statuses() -> None:
    """A count-bounded run sends exactly `count`, histogramming 200s and 202s, ids per 2xx."""
    async with TestServer(_app()) as server:
        report = await simulate(
            str(server.make_url("/")),
            TOKEN,
            rate=None,
            count=200,
            duration_s=None,
            encrypt_with=API_KEY,
            concurrency=8,
            seed=1,
            encrypted_share=0.3,
        )
    assert 200 == report.sent == report.answered == report.ok
    assert {200, 202} == set(report.statuses)
    assert 200 == len(report.acked_ids)
    assert {} == report.errors
    assert 0 < report.p50_ms <= report.p95_ms <= report.p99_ms <= report.max_ms


async def test_simulate_reports_non_2xx() -> None:
    """A wrong token shows up as 401s, not as acknowledged events."""
    async with TestServer(_app()) as server:
        report = await simulate(
            str(server.make_url("/")),
            "wrong-token-0123456789",
            rate=None,
            count=20,
            duration_s=None,
            encrypt_with=None,
            concurrency=4,
            seed=1,
        )
    assert {401: 20} == report.statuses
    assert 0 == report.ok
    assert () == report.acked_ids


async def test_open_loop_keeps_the_schedule() -> None:
    """At a fixed rate for a fixed time, about rate x duration requests are sent."""
    async with TestServer(_app()) as server:
        bodies = (w.body for w in webhooks(2))
        report = await send(
            str(server.make_url(f"/webhooks/argos/{TOKEN}")),
            bodies,
            rate=200.0,
            count=None,
            duration_s=1.0,
            concurrency=4,
        )
    assert 190 <= report.sent <= 201
    assert report.sent == report.answered
    assert 0.9 < report.elapsed_s < 3.0


async def test_transport_errors_are_counted() -> None:
    """Nothing listening: every request is a transport error, none an answer."""
    async with TestServer(_app()) as server:
        url = str(server.make_url("/webhooks/argos/x"))
    report = await send(
        url, (b"{}" for _ in range(5)), rate=None, count=5, duration_s=None, concurrency=1
    )
    assert 5 == report.sent
    assert 5 == sum(report.errors.values())
    assert {} == report.statuses


def test_cli_print_mode(capsys: pytest.CaptureFixture[str]) -> None:
    """`--print N` writes N bodies, one JSON object per line, and sends nothing (no token)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert 0 == run(parser.parse_args(["--print", "5", "--seed", "4"]), env={}, prompt=None)
    lines = capsys.readouterr().out.splitlines()
    assert 5 == len(lines)
    assert all("webhook_trigger" in orjson.loads(line) for line in lines)


def test_cli_encrypts_with_the_first_configured_api_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression: it read BRIDGE_ARGOS_API_KEY; now the first key of BRIDGE_ARGOS_API_KEYS."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    env = {"BRIDGE_ARGOS_API_KEYS": f"{API_KEY},second-key-0002"}
    assert 0 == run(parser.parse_args(["--print", "3"]), env=env, prompt=None)
    for line in capsys.readouterr().out.splitlines():
        payload = orjson.loads(crypto.decrypt(orjson.loads(line)["data"], [API_KEY]))
        assert "webhook_trigger" in payload


def test_cli_requires_a_token() -> None:
    """Without a token (flag, file, BRIDGE_AUTH_TOKENS or prompt) it is a ConfigError naming it."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(ConfigError, match="BRIDGE_AUTH_TOKENS"):
        run(parser.parse_args(["--count", "1"]), env={}, prompt=None)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_first_webhooks_cover_every_trigger(seed: int) -> None:
    """Regression: `--count 50` sent 6 of 13 triggers; the first len(TRIGGERS) cover them all."""
    first = [w.trigger for w in islice(webhooks(seed), len(TRIGGERS))]
    assert sorted(TRIGGERS) == sorted(first)
    assert "created" == first[0]
    assert first.index("submit") < first.index("approved")
