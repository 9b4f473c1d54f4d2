"""
End to end: every ARGOS fixture, plain and encrypted, posted over HTTP to a
running `kyc-bridge serve` and read back from a real broker.
"""

from __future__ import annotations

import asyncio
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from bridge import crypto
from bridge.logs import ALWAYS_REDACTED
from bridge.pii.marking import personal_keys
from bridge.schemas import load_registry
from tests.support.bridge_proc import BridgeProcess, ConsumedRecord, read_topic
from tests.support.broker import Broker

pytestmark = pytest.mark.kafka

FIXTURES = Path(__file__).parents[1] / "fixtures" / "argos"
PLAIN_TOKEN = "plain-project-token-000001"
ENC_TOKEN = "encrypted-project-token-01"
CE_HEADERS = {
    "ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_dataschema", "content-type"
}  # fmt: skip


def _fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def _api_key() -> str:
    first = next(iter(sorted((FIXTURES / "encrypted").glob("*.json"))))
    return str(orjson.loads(first.read_bytes())["api_key"])


@dataclass
class Posted:
    status: int
    body: dict[str, object]
    record: ConsumedRecord | None


def _post(url: str, body: bytes, content_type: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


def _opened(answer: dict[str, object]) -> dict[str, object]:
    """Decrypt an encrypted answer `{"data": ...}` with the encrypted project's key."""
    assert ["data"] == list(answer), answer
    opened = orjson.loads(crypto.decrypt(str(answer["data"]), [_api_key()]))
    assert isinstance(opened, dict)
    return opened


@dataclass
class RoundTrip:
    posted: dict[str, Posted]
    log: str


@pytest.fixture(scope="module", name="roundtrip")
def _roundtrip(kafka: Broker, tmp_path_factory: pytest.TempPathFactory) -> RoundTrip:
    """Post every fixture twice (plain project, encrypted project); read all records back."""
    topic = f"kyc.e2e.{uuid.uuid4().hex[:8]}"
    kafka.create_topic(topic, partitions=3)
    workdir = tmp_path_factory.mktemp("bridge-e2e")
    config = workdir / "bridge.toml"
    config.write_text(
        f'[projects.plain]\ntokens = ["{PLAIN_TOKEN}"]\n\n'
        f'[projects.enc]\ntokens = ["{ENC_TOKEN}"]\napi_keys = ["{_api_key()}"]\n'
        "allow_plaintext = false\n"
    )
    bridge = BridgeProcess(
        workdir,
        {
            "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "BRIDGE_CONFIG_FILE": str(config),
            "BRIDGE_TOPIC": topic,
            "BRIDGE_DLQ_TOPIC": topic + ".dlq",
        },
    )
    bridge.start(wait="/readyz")
    try:
        results: dict[str, tuple[int, dict[str, object]]] = {}
        for name in _fixture_names():
            payload = orjson.loads((FIXTURES / f"{name}.json").read_bytes())["payload"]
            results[f"{name}-plain"] = _post(
                f"{bridge.url}/webhooks/argos/{PLAIN_TOKEN}",
                orjson.dumps(payload),
                "application/json",
            )
            encrypted = orjson.loads((FIXTURES / "encrypted" / f"{name}.json").read_bytes())
            status, answer = _post(
                f"{bridge.url}/webhooks/argos/{ENC_TOKEN}", encrypted["body"].encode(), "text/plain"
            )
            # An encrypted-only project answers encrypted requests encrypted (README).
            results[f"{name}-encrypted"] = (status, _opened(answer))
        records = asyncio.run(read_topic(kafka.bootstrap, topic, min_count=len(results)))
    finally:
        bridge.stop()
    by_id = {r.headers["ce_id"].decode(): r for r in records}
    posted = {
        case: Posted(status, body, by_id.get(str(body.get("event_id"))))
        for case, (status, body) in results.items()
    }
    return RoundTrip(posted, bridge.logs())


CASES = [f"{name}-{mode}" for name in _fixture_names() for mode in ("plain", "encrypted")]


@pytest.mark.parametrize("case", CASES)
def test_fixture_reaches_kafka_as_a_valid_event(roundtrip: RoundTrip, case: str) -> None:
    """200 after the ack; the record has the right key, CloudEvents headers and a valid value."""
    name, _, mode = case.rpartition("-")
    expect = orjson.loads((FIXTURES / f"{name}.json").read_bytes())["expect"]
    result = roundtrip.posted[case]
    assert (200, "kafka") == (result.status, result.body.get("stored")), result.body
    record = result.record
    assert record is not None, "record not found on the topic"
    event_id = record.headers["ce_id"].decode()
    assert expect["key"].format(event_id=event_id).encode() == record.key
    assert CE_HEADERS <= set(record.headers)
    value = orjson.loads(record.value or b"{}")
    assert expect["event_type"] == value["event_type"] == record.headers["ce_type"].decode()
    assert (mode == "encrypted") == value["encrypted"]
    assert result.body["partition"] == record.partition
    assert result.body["offset"] == record.offset
    load_registry().validate(value["schema"], value)


_REGISTRY = load_registry()
PERSONAL_KEYS = personal_keys(_REGISTRY.schema(n) for n in _REGISTRY.names) | ALWAYS_REDACTED


def _personal_values(value: object, key: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _personal_values(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _personal_values(v, key)
    elif (
        isinstance(value, str)
        and len(value) >= 6
        and key.replace("_", "").replace("-", "").lower() in PERSONAL_KEYS
    ):
        yield value


def test_bridge_log_has_no_personal_data(roundtrip: RoundTrip) -> None:
    """The real process's log lines carry no personal value of any fixture, nor a token."""
    assert "webhook.handled" in roundtrip.log
    values = {PLAIN_TOKEN, ENC_TOKEN, _api_key()}
    for path in FIXTURES.glob("*.json"):
        values.update(_personal_values(orjson.loads(path.read_bytes())["payload"]))
    leaked = sorted(v for v in values if v in roundtrip.log)
    assert [] == leaked
