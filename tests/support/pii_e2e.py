"""
Helpers of the personal-data end-to-end tests (tests/e2e/test_pii.py): bridge
processes with protection on, posting webhooks, canaries (the personal values the
fixtures carry), the CLI as a subprocess, the spool's keys table, and what a
process exposes (its log, /metrics, error bodies).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bridge import crypto
from bridge.delivery.spool import database_path
from bridge.events import EventFactory
from bridge.pii import KeyEncryptionKey, parse_key_record, split
from bridge.pii.compact import b64url_encode
from bridge.pii.keys import KeyRecord
from bridge.pii.marking import normalized_key, personal_keys
from bridge.schemas import load_registry
from bridge.types import JSONObject, JSONValue
from tests.support.bridge_proc import BridgeProcess, ConsumedRecord

__all__ = [
    "ENC_TOKEN",
    "FIXTURES",
    "PLAIN_TOKEN",
    "Exposure",
    "Reply",
    "Topics",
    "api_key",
    "canaries",
    "cli",
    "data_key_secrets",
    "encrypted_body",
    "erased_form",
    "expected_event",
    "fixture_names",
    "fixture_payload",
    "leaked",
    "live_key_records",
    "metrics_text",
    "parse_received_at",
    "person",
    "post",
    "read_to_end",
    "record_bytes",
    "spool_kids",
    "write_projects",
]

FIXTURES = Path(__file__).parents[1] / "fixtures" / "argos"
PLAIN_TOKEN = "pii-plain-project-token-0001"
ENC_TOKEN = "pii-encrypted-project-token-01"
_MIN_CANARY = 6  # shorter values could occur by chance inside base64 ciphertext

_FACTORY = EventFactory(load_registry())
_REGISTRY = load_registry()
_PERSONAL_KEYS = personal_keys(_REGISTRY.schema(n) for n in _REGISTRY.names)


def fixture_names() -> list[str]:
    """Return the name of every ARGOS fixture, sorted."""
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def fixture_payload(name: str) -> JSONObject:
    """Return the decrypted ARGOS payload of fixture `name`."""
    payload: JSONObject = orjson.loads((FIXTURES / f"{name}.json").read_bytes())["payload"]
    return payload


def encrypted_body(name: str) -> bytes:
    """Return the ARGOS-encrypted request body of fixture `name`."""
    return str(
        orjson.loads((FIXTURES / "encrypted" / f"{name}.json").read_bytes())["body"]
    ).encode()


def api_key() -> str:
    """Return the ARGOS API key the encrypted fixtures were encrypted with."""
    first = next(iter(sorted((FIXTURES / "encrypted").glob("*.json"))))
    return str(orjson.loads(first.read_bytes())["api_key"])


@dataclass(frozen=True)
class Topics:
    """The four topics of one bridge deployment (unique per scenario)."""

    events: str
    dlq: str
    keys: str
    state: str

    @classmethod
    def unique(cls, label: str) -> Topics:
        """Return fresh topic names tagged `label`."""
        tag = f"{label}.{uuid.uuid4().hex[:8]}"
        return cls(f"kyc.pii.{tag}", f"kyc.pii.{tag}.dlq", f"kyc.keys.{tag}", f"kyc.state.{tag}")

    def env(self) -> dict[str, str]:
        """The bridge settings naming these topics."""
        return {
            "BRIDGE_TOPIC": self.events,
            "BRIDGE_DLQ_TOPIC": self.dlq,
            "BRIDGE_PII_KEYS_TOPIC": self.keys,
            "BRIDGE_STATE_TOPIC": self.state,
        }


def write_projects(path: Path) -> Path:
    """Write a projects file: `plain` (plain bodies) and `enc` (ARGOS-encrypted only)."""
    path.write_text(
        f'[projects.plain]\ntokens = ["{PLAIN_TOKEN}"]\n\n'
        f'[projects.enc]\ntokens = ["{ENC_TOKEN}"]\napi_keys = ["{api_key()}"]\n'
        "allow_plaintext = false\n"
    )
    return path


@dataclass(frozen=True)
class Reply:
    """An HTTP answer of the bridge."""

    status: int
    body: JSONObject
    text: str


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, content_type: str = "application/json"
) -> Reply:
    """
    POST `body` and return the answer (any status). An encrypted answer (the `enc`
    project answers encrypted requests `{"data": ...}`) is opened: `body` and `text`
    are what it says.
    """
    async with session.post(url, data=body, headers={"Content-Type": content_type}) as response:
        text = await response.text()
    answer = orjson.loads(text)
    if isinstance(answer, dict) and list(answer) == ["data"] and isinstance(answer["data"], str):
        text = crypto.decrypt(answer["data"], [api_key()]).decode()
        answer = orjson.loads(text)
    return Reply(response.status, answer, text)


async def metrics_text(bridge: BridgeProcess) -> str:
    """Return what the bridge's /metrics serves."""
    async with aiohttp.ClientSession() as session, session.get(bridge.url + "/metrics") as r:
        return await r.text()


def cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `kyc-bridge ARGS` as a subprocess with only `env` (and PATH)."""
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), **env},
        timeout=timeout,
        check=False,
    )


def spool_kids(workdir: Path, subject: str, *, own: bool = False) -> dict[str, bool]:
    """
    Return kid -> erased for `subject` in the keys table of the spool in `workdir/spool`
    (a running bridge's view of the keys topic); only the keys it created if `own`.
    """
    path = database_path(workdir / "spool")
    if not path.exists():
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT kid, erased, seq FROM keys WHERE subject = ?", (subject,))
        return {str(kid): bool(erased) for kid, erased, seq in rows if seq or not own}
    finally:
        conn.close()


def person(submission: str, step: int) -> JSONObject:
    """A synthetic webhook of `submission` carrying personal data unique to it and `step`."""
    trigger = ("submit", "approved", "updated")[step % 3]
    body: JSONObject = {
        "webhook_trigger": trigger,
        "submission_id": submission,
        "email": f"{submission}.{step}@canary.example",
        "fullName": f"CANARY {submission.upper()} {step}",
        "x_step": step,
    }
    if trigger == "approved":
        body["kyc_result"] = "approved"
    return body


def parse_received_at(text: str) -> datetime:
    """Parse an envelope's `received_at` (RFC 3339 UTC with milliseconds)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def expected_event(
    payload: JSONObject, *, project: str, encrypted: bool, published: JSONObject
) -> JSONObject:
    """
    Return what `clear` mode publishes for `payload`, at the receive time and with the
    staleness of the `published` record (both decided by the bridge, not the payload).
    """
    draft = _FACTORY.draft(
        payload,
        project=project,
        received_at=parse_received_at(str(published["received_at"])),
        encrypted=encrypted,
    )
    event = _FACTORY.finish(draft, stale=bool(published["stale"]))
    expected: JSONObject = orjson.loads(event.record.value or b"{}")
    return expected


def erased_form(clear: JSONObject) -> JSONObject:
    """Return what the reader gives for `clear`'s record once its data key is erased."""
    data = clear["data"]
    assert isinstance(data, dict)
    kept, _ = split(data, _FACTORY.pii_tree(str(clear["schema"])))
    return {k: v for k, v in clear.items() if k != "raw"} | {"data": kept, "pii": "erased"}


def _leaves(value: JSONValue, key: str = "") -> Iterator[tuple[str, JSONValue]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v, key)
    else:
        yield key, value


def canaries(clear_events: Iterable[JSONObject]) -> set[str]:
    """
    Return the personal values of clear events: every string of 6+ characters in the
    personal part of `data` (the schemas' marking) or under a personal key of `raw`,
    except values that also appear in a clear field of any of them (ids, statuses).
    """
    events = list(clear_events)
    personal: set[str] = set()
    clear: set[str] = set()
    for event in events:
        data = event["data"]
        assert isinstance(data, dict)
        kept, secret = split(data, _FACTORY.pii_tree(str(event["schema"])))
        personal.update(str(v) for _, v in _leaves(secret) if isinstance(v, str))
        personal.update(
            str(v)
            for k, v in _leaves(event.get("raw"))
            if isinstance(v, str) and normalized_key(k) in _PERSONAL_KEYS
        )
        head = {k: v for k, v in event.items() if k not in ("data", "raw")}
        clear.update(str(v) for _, v in _leaves({"head": head, "kept": kept}) if v is not None)
    return {v for v in personal - clear if len(v) >= _MIN_CANARY}


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    """Return the partition ids of `topic`, waiting until it exists."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        while True:
            (described,) = await admin.describe_topics([topic])
            if described["error_code"] == 0 and described["partitions"]:
                return sorted(int(p["partition"]) for p in described["partitions"])
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def read_to_end(bootstrap: str, topic: str, timeout: float = 60.0) -> list[ConsumedRecord]:
    """
    Read every record of `topic` up to the end offsets it has now, ordered by partition
    and offset. The partitions are assigned explicitly: a subscription may be assigned
    again when metadata changes, which resets positions.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list[ConsumedRecord] = []
    try:
        async with asyncio.timeout(timeout):
            tps = [TopicPartition(topic, p) for p in await _partitions(bootstrap, topic)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(*tps, timeout_ms=500)
                for items in batch.values():
                    records.extend(
                        ConsumedRecord(
                            r.partition, r.offset, r.key, r.value, dict(r.headers), r.timestamp
                        )
                        for r in items
                        if r.offset < ends[TopicPartition(topic, r.partition)]
                    )
    finally:
        await consumer.stop()
    return sorted(records, key=lambda r: (r.partition, r.offset))


def record_bytes(records: Iterable[ConsumedRecord]) -> bytes:
    """Every byte of `records`: keys, values, header names and values."""
    parts: list[bytes] = []
    for r in records:
        parts += [r.key or b"", r.value or b""]
        for name, value in r.headers.items():
            parts += [name.encode(), value]
    return b"\n".join(parts)


def leaked(haystack: bytes | str, secrets: Iterable[str]) -> list[str]:
    """Return the secrets found in `haystack`, as written or JSON-escaped, sorted."""
    text = haystack if isinstance(haystack, bytes) else haystack.encode()
    found = set()
    for secret in secrets:
        forms = {secret.encode(), json.dumps(secret)[1:-1].encode()}
        if any(form in text for form in forms):
            found.add(secret)
    return sorted(found)


def live_key_records(records: Iterable[ConsumedRecord]) -> list[KeyRecord]:
    """Return every key record (not tombstones) of a keys topic, in read order."""
    found = []
    for r in records:
        parsed = parse_key_record(r.key, r.value)
        if isinstance(parsed, KeyRecord):
            found.append(parsed)
    return found


async def data_key_secrets(records: Iterable[ConsumedRecord], kek: KeyEncryptionKey) -> set[str]:
    """Return every DEK of a keys topic in the encodings a leak could take (base64url, hex)."""
    found: set[str] = set()
    for record in live_key_records(records):
        dek = await kek.unwrap(record.wrapped_key, subject=record.subject, kid=record.kid)
        found |= {
            b64url_encode(dek.key).decode(),
            base64.b64encode(dek.key).decode(),
            dek.key.hex(),
        }
    return found


@dataclass
class Exposure:
    """What a scenario's processes showed the world besides Kafka, and what must not be in it."""

    texts: dict[str, str] = field(default_factory=dict)  # label -> log, metrics, error body, ...
    secrets: set[str] = field(default_factory=set)

    def add(self, label: str, text: str) -> None:
        """Record one exposed text under `label` (appended if the label exists)."""
        self.texts[label] = self.texts.get(label, "") + text

    def leaks(self) -> dict[str, list[str]]:
        """Return label -> the secrets its text contains, for labels that contain any."""
        found = {label: leaked(text, self.secrets) for label, text in self.texts.items()}
        return {label: values for label, values in found.items() if values}
