"""
Personal-data protection end to end (issue 11): real brokers, real `kyc-bridge serve`
processes with `BRIDGE_PII_PROTECTION=encrypt`, the shipped reader (CLI and Python
API) and an independent JOSE library.

Scenarios, one bridge deployment each (module-scoped):

    roundtrip   every fixture posted plain and ARGOS-encrypted, plus unusable bodies
                (JWK Set file, and AWS KMS on a moto server)
    erasure     two bridges on the same topics; `delete` and `kyc-bridge pii erase`
    faults      a broker outage and SIGKILLs of the bridge under a stream of webhooks
    rotation    a restart with a new first KEK in the JWK Set

Every scenario also records what its processes expose (log, /metrics, error bodies,
CLI stderr) and the values that must never be in it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import subprocess
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from jwcrypto import jwe, jwk

from bridge.decode import decode_webhook
from bridge.pii import (
    ERASED_AT_HEADER,
    Decryptor,
    JwksFileKek,
    KeyEncryptionKey,
    KeysTopicFollower,
    key_record_key,
    open_inline,
    stamp,
    tombstone_headers,
)
from bridge.pii.compact import parse_compact
from bridge.pii.kms import AwsKmsKek, KmsSettings
from bridge.types import JSONObject, JSONValue
from tests.kafka.clients import describe_topic
from tests.pii.conftest import AWS_ENV, REGION, create_kms_key, moto_kms_server, write_jwks
from tests.support.bridge_proc import BridgeProcess, ConsumedRecord
from tests.support.broker import Broker, BrokerPool
from tests.support.faults import TOKEN, Stream, make_bridge, spool_empty, verify, wait_until
from tests.support.pii_e2e import (
    ENC_TOKEN,
    PLAIN_TOKEN,
    Exposure,
    Reply,
    Topics,
    api_key,
    canaries,
    cli,
    data_key_secrets,
    encrypted_body,
    erased_form,
    expected_event,
    fixture_names,
    fixture_payload,
    leaked,
    live_key_records,
    metrics_text,
    person,
    post,
    read_to_end,
    record_bytes,
    spool_kids,
    write_projects,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ERASED_TYPE = b"kyc.erased"


def _random_jwk(kid: str) -> dict[str, str]:
    """A 256-bit oct JWK with random key bytes (so a leak of `k` cannot be a coincidence)."""
    key = jwk.JWK.generate(kty="oct", size=256, kid=kid)
    exported: dict[str, str] = json.loads(key.export())
    return exported


def _decrypted(fixture: str) -> JSONObject:
    """The payload of an ARGOS-encrypted fixture body, as the bridge decrypts it (key order)."""
    decoded = decode_webhook(encrypted_body(fixture), api_keys=[api_key()], allow_plaintext=False)
    return decoded.payload


def _webhook(bridge: BridgeProcess, token: str = PLAIN_TOKEN) -> str:
    return f"{bridge.url}/webhooks/argos/{token}"


@dataclass(frozen=True)
class Posted:
    """A webhook the test sent: its payload (decrypted), project and how it was sent."""

    payload: JSONObject
    project: str
    encrypted: bool
    reply: Reply


def _expected(posted: Posted, record: JSONObject) -> JSONObject:
    return expected_event(
        posted.payload, project=posted.project, encrypted=posted.encrypted, published=record
    )


def _clear_events(posted: Iterable[Posted], records: list[ConsumedRecord]) -> list[JSONObject]:
    """What clear mode publishes for every accepted webhook of `posted`."""
    first = _first_copies(records)
    return [
        _expected(p, orjson.loads(first[str(p.reply.body["event_id"])].value or b"{}"))
        for p in posted
        if p.reply.status < 300
    ]


def _ce_id(record: ConsumedRecord) -> str:
    return record.headers["ce_id"].decode()


def _first_copies(records: list[ConsumedRecord]) -> dict[str, ConsumedRecord]:
    """event id -> its first record on the topic (retries may add copies)."""
    found: dict[str, ConsumedRecord] = {}
    for record in records:
        found.setdefault(_ce_id(record), record)
    return found


@dataclass(frozen=True)
class Erased:
    """A `kyc.erased` event read from the events topic."""

    value: JSONObject
    subject: str
    reason: str
    channel: str
    project: str | None
    key_ids: frozenset[str]
    delete_event_id: str | None


def _erased_events(records: list[ConsumedRecord]) -> list[Erased]:
    found = []
    for record in records:
        if record.headers.get("ce_type") != ERASED_TYPE:
            continue
        value = orjson.loads(record.value or b"{}")
        data, source = value["data"], value["source"]
        found.append(
            Erased(
                value=value,
                subject=str(value["subject"]),
                reason=str(data["reason"]),
                channel=str(source["channel"]),
                project=source["project"],
                key_ids=frozenset(str(kid) for kid in data["key_ids"]),
                delete_event_id=data.get("delete_event_id"),
            )
        )
    return found


async def _erase_elsewhere(bootstrap: str, topic: str, subject: str, erased_at: str) -> None:
    """Publish a tombstone of `subject` for a kid no bridge has, erased at `erased_at`."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        headers = list(tombstone_headers(erased_at))
        await producer.send_and_wait(
            topic, None, key=key_record_key(subject, "elsewhere"), headers=headers
        )
    finally:
        await producer.stop()


def _tombstoned(keys: list[ConsumedRecord]) -> dict[str, set[str]]:
    """subject -> the kids tombstoned on the keys topic."""
    found: dict[str, set[str]] = {}
    for record in keys:
        if record.value is None and record.key is not None:
            subject, _, kid = record.key.decode().rpartition("/")
            found.setdefault(subject, set()).add(kid)
    return found


def _created(keys: list[ConsumedRecord]) -> dict[str, set[str]]:
    """subject -> the kids of every key record published for it."""
    found: dict[str, set[str]] = {}
    for record in live_key_records(keys):
        found.setdefault(record.subject, set()).add(record.kid)
    return found


async def _decrypt_all(
    kek: KeyEncryptionKey, bootstrap: str, keys_topic: str, records: list[ConsumedRecord]
) -> dict[str, JSONObject]:
    """event id -> the first copy decrypted with the Python API (KeysTopicFollower)."""
    async with KeysTopicFollower(
        Decryptor(kek), bootstrap_servers=bootstrap, topic=keys_topic
    ) as keys:
        return {
            event_id: await keys.decrypt_event(record.value or b"")
            for event_id, record in _first_copies(records).items()
        }


def _read_cli(env: dict[str, str], exposure: Exposure) -> dict[str, JSONObject]:
    """event id -> the record as `kyc-bridge events read --decrypt` prints it."""
    result = cli("events", "read", "--from-beginning", "--decrypt", "--no-follow", env=env)
    exposure.add("events read stderr", result.stderr)
    assert 0 == result.returncode, result.stderr[-2000:]
    printed: dict[str, JSONObject] = {}
    for line in result.stdout.splitlines():
        event = orjson.loads(line)
        printed.setdefault(str(event["event_id"]), event)
    return printed


# ----------------------------------------------------------------------- independent JOSE


def _merge(clear: JSONValue, personal: JSONValue) -> JSONValue:
    if isinstance(clear, dict) and isinstance(personal, dict):
        merged = dict(clear)
        for name, value in personal.items():
            merged[name] = _merge(clear[name], value) if name in clear else value
        return merged
    return personal


def jwcrypto_decrypt(event: JSONObject, key_values: dict[str, JSONObject], jwks: str) -> JSONObject:
    """
    Decrypt a protected event as a consumer in another language would (docs/pii.md),
    with jwcrypto, the JWK Set file and the live keys-topic values (kid -> value).
    """
    protected = str(event["protected"])
    header = json.loads(jwk.base64url_decode(protected.split(".", maxsplit=1)[0]))
    assert ("dir", "A256GCM") == (header["alg"], header["enc"])
    wrapped = jwe.JWE()
    wrapped.deserialize(
        str(key_values[header["kid"]]["wrapped_key"]), key=jwk.JWKSet.from_json(jwks)
    )
    sealed = jwe.JWE()
    sealed.deserialize(protected, key=jwk.JWK.from_json(wrapped.payload))
    assert event["event_id"] == header["kyc_event_id"]
    inner = json.loads(sealed.payload)
    restored = {k: v for k, v in event.items() if k != "protected"}
    restored |= {"pii": "clear", "data": _merge(event["data"], inner["data"]), "raw": inner["raw"]}
    return restored


# ----------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", name="kms_endpoint")
def _kms_endpoint() -> Iterator[str]:
    """A moto KMS server on 127.0.0.1, with dummy AWS credentials in this process's env."""
    with moto_kms_server() as endpoint:
        yield endpoint


@dataclass(frozen=True)
class Unusable:
    """A body that cannot become an event, and the personal values it carries."""

    project: str
    body: bytes
    content_type: str
    canaries: tuple[str, ...]
    sealed: bool  # arrived in plain text: its dead letter seals it


_BIG_MEMO = "CANARY LARGE MEMO " + "lorem ipsum " * 6000
UNUSABLE = {
    "invalid-json": Unusable(
        "plain",
        b'{"email": "canary.broken@unusable.example", "fullName": "CANARY BROKEN JSON"',
        "application/json",
        ("canary.broken@unusable.example", "CANARY BROKEN JSON"),
        sealed=True,
    ),
    "json-array": Unusable(
        "plain",
        b'[{"email": "canary.array@unusable.example", "phone": "+821012345678"}]',
        "application/json",
        ("canary.array@unusable.example", "+821012345678"),
        sealed=True,
    ),
    "plain-on-encrypted-only-project": Unusable(
        "enc",
        orjson.dumps(
            {
                "webhook_trigger": "submit",
                "submission_id": "refused-0001",
                "email": "canary.refused@unusable.example",
                "fullName": "CANARY REFUSED PLAINTEXT",
            }
        ),
        "application/json",
        ("canary.refused@unusable.example", "CANARY REFUSED PLAINTEXT"),
        sealed=True,
    ),
    "event-too-large": Unusable(
        "plain",
        orjson.dumps(
            {
                "webhook_trigger": "submit",
                "submission_id": "too-large-0001",
                "email": "canary.large@unusable.example",
                "memo": _BIG_MEMO,
            }
        ),
        "application/json",
        ("canary.large@unusable.example", "CANARY LARGE MEMO"),
        sealed=True,
    ),
    "undecryptable-ciphertext": Unusable(
        "enc", b"bm90IGNpcGhlcnRleHQ=", "text/plain", (), sealed=False
    ),
}
_TOKENS = {"plain": PLAIN_TOKEN, "enc": ENC_TOKEN}


@dataclass(frozen=True)
class KekSetup:
    """How a scenario's bridge and reader get the key-encryption key."""

    kek: KeyEncryptionKey  # the reader's
    env: dict[str, str]  # the bridge's settings
    alg: str  # of every wrapped_key
    jwks: str | None = None  # the JWK Set file's text (None with AWS KMS)
    secrets: frozenset[str] = frozenset()  # key material that must never show


@dataclass(frozen=True)
class RoundTrip:
    """Everything the roundtrip scenario produced."""

    setup: KekSetup
    topics: Topics
    posted: dict[str, Posted]  # case -> what was sent
    rejected: dict[str, Reply]  # unusable case -> the answer
    events: list[ConsumedRecord]
    dead: list[ConsumedRecord]
    keys: list[ConsumedRecord]
    printed: dict[str, JSONObject]  # what `events read --decrypt` printed, by event id
    exposure: Exposure

    @property
    def kek(self) -> KeyEncryptionKey:
        """The reader's key-encryption key."""
        return self.setup.kek


async def _run_roundtrip(kafka: Broker, workdir: Path, setup: KekSetup) -> RoundTrip:
    topics = Topics.unique(f"rt-{setup.alg}")
    await kafka.acreate_topic(topics.events, partitions=3)
    await kafka.acreate_topic(topics.dlq)
    env = {
        "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "BRIDGE_CONFIG_FILE": str(write_projects(workdir / "projects.toml")),
        "BRIDGE_PII_PROTECTION": "encrypt",
        "BRIDGE_KAFKA_MAX_RECORD_BYTES": "65536",  # the event of "event-too-large" exceeds it
        **topics.env(),
        **setup.env,
    }
    bridge = BridgeProcess(workdir, env)
    await asyncio.to_thread(bridge.start, wait="/readyz")
    exposure = Exposure()
    posted: dict[str, Posted] = {}
    rejected: dict[str, Reply] = {}
    try:
        async with aiohttp.ClientSession() as session:
            for name in fixture_names():
                payload = fixture_payload(name)
                plain = await post(session, _webhook(bridge), orjson.dumps(payload))
                posted[f"{name}-plain"] = Posted(payload, "plain", False, plain)
                sent = await post(
                    session, _webhook(bridge, ENC_TOKEN), encrypted_body(name), "text/plain"
                )
                posted[f"{name}-encrypted"] = Posted(_decrypted(name), "enc", True, sent)
            for case, bad in UNUSABLE.items():
                url = _webhook(bridge, _TOKENS[bad.project])
                rejected[case] = await post(session, url, bad.body, bad.content_type)
        await wait_until(partial(spool_empty, bridge), 60)
        exposure.add("metrics", await metrics_text(bridge))
    finally:
        await asyncio.to_thread(bridge.stop)
        exposure.add("bridge log", bridge.logs())
    for case, reply in [*((c, p.reply) for c, p in posted.items()), *rejected.items()]:
        if reply.status >= 300:
            exposure.add(f"error body {case}", reply.text)
    events = await read_to_end(kafka.bootstrap, topics.events)
    keys = await read_to_end(kafka.bootstrap, topics.keys)
    printed = await asyncio.to_thread(_read_cli, env, exposure)
    exposure.secrets |= canaries(_clear_events(posted.values(), events))
    exposure.secrets |= {c for u in UNUSABLE.values() for c in u.canaries}
    exposure.secrets |= {PLAIN_TOKEN, ENC_TOKEN, api_key(), *setup.secrets}
    exposure.secrets |= await data_key_secrets(keys, setup.kek)
    return RoundTrip(
        setup=setup,
        topics=topics,
        posted=posted,
        rejected=rejected,
        events=events,
        dead=await read_to_end(kafka.bootstrap, topics.dlq),
        keys=keys,
        printed=printed,
        exposure=exposure,
    )


def _jwks_setup(workdir: Path) -> KekSetup:
    key = _random_jwk("kek-e2e-1")
    path = write_jwks(workdir / "kek.jwks", key)
    return KekSetup(
        kek=JwksFileKek.from_file(path),
        env={"BRIDGE_PII_KEK_FILE": str(path)},
        alg="A256KW",
        jwks=path.read_text(),
        secrets=frozenset({key["k"]}),
    )


def _kms_setup(endpoint: str) -> KekSetup:
    arn = create_kms_key(endpoint)
    env = {
        "BRIDGE_PII_KMS_KEY_ID": arn,
        "BRIDGE_PII_KMS_REGION": REGION,
        "BRIDGE_PII_KMS_ENDPOINT_URL": endpoint,
        **AWS_ENV,
    }
    return KekSetup(kek=AwsKmsKek(KmsSettings(arn, REGION, endpoint)), env=env, alg="aws-kms")


@pytest.fixture(scope="module", name="roundtrip", params=["jwks", "kms"])
def _roundtrip(
    request: pytest.FixtureRequest, kafka: Broker, tmp_path_factory: pytest.TempPathFactory
) -> RoundTrip:
    """
    Every fixture (plain and encrypted) and the unusable bodies through one bridge whose
    KEK is a JWK Set file, or an AWS KMS key on the moto server.
    """
    workdir = tmp_path_factory.mktemp(f"pii-roundtrip-{request.param}")
    if request.param == "jwks":
        setup = _jwks_setup(workdir)
    else:
        setup = _kms_setup(request.getfixturevalue("kms_endpoint"))
    return asyncio.run(_run_roundtrip(kafka, workdir, setup))


# ----------------------------------------------------------------------- 1. round trip


def _delete_subject() -> str:
    return str(fixture_payload("delete")["submission_id"])


def _compare_roundtrip(roundtrip: RoundTrip, decrypted: dict[str, JSONObject]) -> None:
    """Each webhook's record decrypts to what clear mode publishes (erased: clear fields)."""
    first = _first_copies(roundtrip.events)
    erased = {e.subject for e in _erased_events(roundtrip.events)}
    for case, posted in roundtrip.posted.items():
        event_id = str(posted.reply.body["event_id"])
        record = first[event_id]
        expected = _expected(posted, orjson.loads(record.value or b"{}"))
        if (record.key or b"").decode() in erased:
            expected = erased_form(expected)
        assert expected == decrypted[event_id], case
    for event in _erased_events(roundtrip.events):
        assert event.value == decrypted[str(event.value["event_id"])]


def test_every_webhook_is_published_protected(roundtrip: RoundTrip) -> None:
    """
    Every fixture, plain and ARGOS-encrypted, is answered 200 and published once with
    `pii: "encrypted"`, no `raw`, and a `protected` JWE (dir, A256GCM) bound to its
    event id whose kid names a key record of the record's subject.
    """
    first = _first_copies(roundtrip.events)
    kids = {(r.subject, r.kid) for r in live_key_records(roundtrip.keys)}
    for case, posted in roundtrip.posted.items():
        assert 200 == posted.reply.status, (case, posted.reply.body)
        record = first[str(posted.reply.body["event_id"])]
        value = orjson.loads(record.value or b"{}")
        assert ("encrypted", False) == (value["pii"], "raw" in value), case
        header = parse_compact(value["protected"]).header
        expected = ("dir", "A256GCM", value["event_id"])
        assert expected == (header["alg"], header["enc"], header["kyc_event_id"])
        assert ((record.key or b"").decode(), header["kid"]) in kids, case


def test_no_personal_value_or_key_in_any_topic(roundtrip: RoundTrip) -> None:
    """
    No canary (the fixtures' and the unusable bodies' personal values), token, API key
    or key material is anywhere in the bytes of the events topic, the DLQ or the keys
    topic; every canary of a fixture that is not erased is in the decrypted output
    (the canaries are real).
    """
    secrets = roundtrip.exposure.secrets
    for name, records in [
        ("events", roundtrip.events),
        ("dlq", roundtrip.dead),
        ("keys", roundtrip.keys),
    ]:
        assert [] == leaked(record_bytes(records), secrets), name
    readable = [p for c, p in roundtrip.posted.items() if not c.startswith("delete-")]
    fixture_canaries = canaries(_clear_events(readable, roundtrip.events))
    assert len(fixture_canaries) > 50
    printed = orjson.dumps(list(roundtrip.printed.values()))
    assert sorted(fixture_canaries) == leaked(printed, fixture_canaries)


async def test_dead_letters_seal_plain_bodies_and_keep_ciphertext(roundtrip: RoundTrip) -> None:
    """
    Each unusable body is answered 4xx and dead-lettered once: a body that arrived in
    plain text is sealed inline (`open_inline` with the KEK gives it back byte for
    byte), ARGOS ciphertext is kept as received.
    """
    dead = {}
    for record in roundtrip.dead:
        value = orjson.loads(record.value or b"{}")
        dead[value["data"]["body_sha256"]] = value
    assert len(UNUSABLE) == len(roundtrip.dead)
    for case, bad in UNUSABLE.items():
        reply = roundtrip.rejected[case]
        assert 400 <= reply.status < 500, (case, reply.body)
        letter = dead[hashlib.sha256(bad.body).hexdigest()]
        data = letter["data"]
        if bad.sealed:
            assert ("encrypted", False) == (letter["pii"], "body_b64" in data), case
            body = await open_inline(
                data["body_sealed"], roundtrip.kek, event_id=letter["event_id"]
            )
        else:
            assert ("clear", False) == (letter["pii"], "body_sealed" in data), case
            body = base64.b64decode(data["body_b64"])
        assert bad.body == body, case


def test_cli_decrypts_to_what_clear_mode_publishes(roundtrip: RoundTrip) -> None:
    """`kyc-bridge events read --from-beginning --decrypt --no-follow` prints the clear events."""
    _compare_roundtrip(roundtrip, roundtrip.printed)


async def test_python_api_decrypts_to_what_clear_mode_publishes(
    roundtrip: RoundTrip, kafka: Broker
) -> None:
    """KeysTopicFollower + Decryptor turn every record back into the clear event."""
    decrypted = await _decrypt_all(
        roundtrip.kek, kafka.bootstrap, roundtrip.topics.keys, roundtrip.events
    )
    _compare_roundtrip(roundtrip, decrypted)


@pytest.mark.parametrize("roundtrip", ["jwks"], indirect=True)
def test_jwcrypto_decrypts_with_only_the_jwk_set_and_the_keys_topic(roundtrip: RoundTrip) -> None:
    """jwcrypto, given only the JWK Set file and the keys topic, decrypts every live record."""
    jwks = roundtrip.setup.jwks
    assert jwks is not None
    live: dict[str, JSONObject] = {}
    for record in roundtrip.keys:
        kid = (record.key or b"").decode().rpartition("/")[2]
        if record.value is None:
            live.pop(kid, None)
        else:
            live[kid] = orjson.loads(record.value)
    first = _first_copies(roundtrip.events)
    decrypted = 0
    for case, posted in roundtrip.posted.items():
        value = orjson.loads(first[str(posted.reply.body["event_id"])].value or b"{}")
        if parse_compact(value["protected"]).header["kid"] not in live:
            continue  # erased (the delete fixture's subject)
        assert _expected(posted, value) == jwcrypto_decrypt(value, live, jwks), case
        decrypted += 1
    assert len(roundtrip.posted) - 2 == decrypted


async def test_key_records_name_the_kek_and_the_topic_is_compacted(
    roundtrip: RoundTrip, kafka: Broker
) -> None:
    """
    The bridge created the keys topic compacted with a bounded max.compaction.lag.ms;
    each key record's `kek_kid` and its `wrapped_key` header name the configured KEK.
    """
    _, configs = await describe_topic(kafka.bootstrap, roundtrip.topics.keys)
    assert "compact" == configs["cleanup.policy"]
    assert int(configs["max.compaction.lag.ms"]) <= 7 * 24 * 3600 * 1000
    records = live_key_records(roundtrip.keys)
    assert records
    for record in records:
        header = parse_compact(record.wrapped_key).header
        assert (roundtrip.setup.alg, "A256GCM") == (header["alg"], header["enc"])
        assert (roundtrip.kek.kid, roundtrip.kek.kid) == (record.kek_kid, header["kid"])


def test_the_delete_fixture_erases_every_key_of_its_submission(roundtrip: RoundTrip) -> None:
    """
    The `delete` fixture (sent twice: plain and encrypted) erases its submission: each
    `kyc.erased` event lists the key ids it erased, and every key record of the
    submission is tombstoned.
    """
    subject = _delete_subject()
    erased = _erased_events(roundtrip.events)
    assert [subject, subject] == [e.subject for e in erased]
    assert [True, True] == [bool(e.key_ids) for e in erased]
    listed = {kid for e in erased for kid in e.key_ids}
    created = _created(roundtrip.keys)[subject]
    assert (created, created) == (listed, _tombstoned(roundtrip.keys)[subject])


def test_roundtrip_exposes_no_personal_data_or_keys(roundtrip: RoundTrip) -> None:
    """The bridge log, /metrics, the error bodies and the CLI's stderr hold no secret."""
    labels = set(roundtrip.exposure.texts)
    assert {"bridge log", "metrics", "events read stderr"} <= labels
    assert len(UNUSABLE) <= len([label for label in labels if label.startswith("error body")])
    assert "webhook.handled" in roundtrip.exposure.texts["bridge log"]
    assert {} == roundtrip.exposure.leaks()


# ----------------------------------------------------------------------- 2. erasure


def _delete(submission: str) -> JSONObject:
    """An ARGOS `delete` webhook of `submission` (its free text is personal)."""
    return {
        "webhook_trigger": "delete",
        "submission_id": submission,
        "account_email": f"dpo.{submission}@canary.example",
        "delete_time": "2025-06-01T04:12:09.733Z",
        "comment": f"CANARY ERASURE REQUEST {submission}",
    }


@dataclass
class Erasure:
    """Two bridges on the same topics; submissions erased by `delete` and by `pii erase`."""

    kek: KeyEncryptionKey
    topics: Topics
    posted: dict[str, Posted]  # event id -> what was sent
    shared: str  # both bridges created a data key; then `delete` sent to bridge A
    shared_kids: set[str]  # the two keys, one per bridge
    operator: str  # erased with `kyc-bridge pii erase`
    operator_kids: set[str]
    fresh: str  # its first and only webhook is `delete`
    keep: str  # never erased
    swept: str  # erased by a tombstone of a kid no bridge has (another party)
    swept_kid: str  # the key bridge B had created for it just before
    swept_at: str  # the erasure time in that tombstone
    delete_id: str  # the event id of the `delete` of `shared`
    erase: subprocess.CompletedProcess[str]
    gone: set[str]  # event ids whose personal data must be erased
    events: list[ConsumedRecord] = field(default_factory=list)
    keys: list[ConsumedRecord] = field(default_factory=list)
    printed: dict[str, JSONObject] = field(default_factory=dict)
    exposure: Exposure = field(default_factory=Exposure)


async def _until(predicate: Callable[[], bool], timeout: float = 30) -> None:
    async def check() -> bool:
        return predicate()

    await wait_until(check, timeout)


def _all_erased(workdir: Path, subject: str) -> bool:
    kids = spool_kids(workdir, subject)
    return bool(kids) and all(kids.values())


async def _run_erasure(kafka: Broker, workdir: Path, key: dict[str, str]) -> Erasure:
    topics = Topics.unique("erase")
    await kafka.acreate_topic(topics.events, partitions=3)
    await kafka.acreate_topic(topics.dlq)
    kek_path = write_jwks(workdir / "kek.jwks", key)
    env = {
        "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "BRIDGE_CONFIG_FILE": str(write_projects(workdir / "projects.toml")),
        "BRIDGE_PII_PROTECTION": "encrypt",
        "BRIDGE_PII_KEK_FILE": str(kek_path),
        "BRIDGE_LOG_LEVEL": "DEBUG",  # the most a log can say: still no secret in it
        **topics.env(),
    }
    a, b = BridgeProcess(workdir / "a", env), BridgeProcess(workdir / "b", env)
    await asyncio.gather(
        asyncio.to_thread(a.start, wait="/readyz"), asyncio.to_thread(b.start, wait="/readyz")
    )
    posted: dict[str, Posted] = {}
    exposure = Exposure()
    try:
        async with aiohttp.ClientSession() as session:

            async def send(bridge: BridgeProcess, payload: JSONObject) -> str:
                reply = await post(session, _webhook(bridge), orjson.dumps(payload))
                assert reply.status in (200, 202), reply.body
                posted[str(reply.body["event_id"])] = Posted(payload, "plain", False, reply)
                return str(reply.body["event_id"])

            # Both bridges create a data key for `shared`: sent at once, neither has
            # seen the other's key yet (retried with a new submission in the rare case
            # one follower was faster).
            for _ in range(5):
                shared = f"both-{uuid.uuid4().hex[:10]}"
                first = await asyncio.gather(send(a, person(shared, 0)), send(b, person(shared, 1)))
                own_a, own_b = (
                    spool_kids(a.workdir, shared, own=True),
                    spool_kids(b.workdir, shared, own=True),
                )
                if own_a.keys() != own_b.keys():
                    break
            shared_kids = set(own_a) | set(own_b)
            operator, keep, fresh = (
                f"{n}-{uuid.uuid4().hex[:10]}" for n in ("op", "keep", "fresh")
            )
            before = [
                *first,
                await send(b, person(operator, 0)),
                await send(a, person(operator, 1)),
            ]
            await send(a, person(keep, 0))
            await send(b, person(keep, 1))
            before.append(await send(a, _delete(fresh)))
            # The erasing bridge must know the other bridge's key first.
            await _until(lambda: shared_kids <= set(spool_kids(a.workdir, shared)))
            delete_id = await send(a, _delete(shared))
            before.append(delete_id)
            # Every data key of `operator` is on the keys topic (each bridge knows the
            # other's: it can only have read it there) before it is erased.
            operator_kids = set(spool_kids(a.workdir, operator, own=True)) | set(
                spool_kids(b.workdir, operator, own=True)
            )
            await _until(
                lambda: all(
                    operator_kids <= set(spool_kids(bridge.workdir, operator)) for bridge in (a, b)
                )
            )
            erase = await asyncio.to_thread(
                cli, "pii", "erase", operator, "--project", "plain", env=env
            )
            exposure.add("pii erase stderr", erase.stderr)
            # Another party erases `swept` knowing none of its keys (a kid of its own): B,
            # reading the tombstone, erases the key it created a moment before; A too.
            swept = f"swept-{uuid.uuid4().hex[:10]}"
            before.append(await send(b, person(swept, 0)))
            (swept_kid,) = spool_kids(b.workdir, swept, own=True)
            await asyncio.sleep(0.01)  # the erasure comes after the key
            swept_at = stamp(datetime.now(UTC))
            await _erase_elsewhere(kafka.bootstrap, topics.keys, swept, swept_at)
            # Both bridges have seen the tombstones: new webhooks get new data keys.
            for bridge, subject in [(a, operator), (b, operator), (b, shared), (b, swept)]:
                await _until(partial(_all_erased, bridge.workdir, subject))
            await _until(lambda: spool_kids(a.workdir, swept).get(swept_kid, False))
            await send(b, person(shared, 2))
            await send(a, person(operator, 2))
            for bridge in (a, b):
                await wait_until(partial(spool_empty, bridge), 60)
                exposure.add(f"metrics {bridge.workdir.name}", await metrics_text(bridge))
    finally:
        await asyncio.gather(asyncio.to_thread(a.stop), asyncio.to_thread(b.stop))
        exposure.add("bridge a log", a.logs())
        exposure.add("bridge b log", b.logs())
    result = Erasure(
        kek=JwksFileKek.from_file(kek_path),
        topics=topics,
        posted=posted,
        shared=shared,
        shared_kids=shared_kids,
        operator=operator,
        operator_kids=operator_kids,
        fresh=fresh,
        keep=keep,
        swept=swept,
        swept_kid=swept_kid,
        swept_at=swept_at,
        delete_id=delete_id,
        erase=erase,
        gone=set(before),
        events=await read_to_end(kafka.bootstrap, topics.events),
        keys=await read_to_end(kafka.bootstrap, topics.keys),
        exposure=exposure,
    )
    result.printed = await asyncio.to_thread(_read_cli, env, exposure)
    exposure.secrets |= canaries(_clear_events(posted.values(), result.events))
    exposure.secrets |= {PLAIN_TOKEN, ENC_TOKEN, api_key(), key["k"]}
    exposure.secrets |= await data_key_secrets(result.keys, result.kek)
    return result


@pytest.fixture(scope="module", name="erasure")
def _erasure(kafka: Broker, tmp_path_factory: pytest.TempPathFactory) -> Erasure:
    """The erasure scenario, run once for the module."""
    workdir = tmp_path_factory.mktemp("pii-erasure")
    return asyncio.run(_run_erasure(kafka, workdir, _random_jwk("kek-erasure")))


def _erased_event(erasure: Erasure, subject: str) -> Erased:
    (event,) = [e for e in _erased_events(erasure.events) if e.subject == subject]
    return event


def test_delete_erases_the_keys_both_bridges_created(erasure: Erasure) -> None:
    """
    `delete` sent to bridge A tombstones the data keys of the submission that A and B
    each created, and A's `kyc.erased` event lists both; the key B created afterwards
    for a new webhook of the submission is live.
    """
    assert 2 == len(erasure.shared_kids)
    event = _erased_event(erasure, erasure.shared)
    assert ("argos_delete", "webhook", erasure.delete_id) == (
        event.reason,
        event.channel,
        event.delete_event_id,
    )
    assert erasure.shared_kids == event.key_ids
    assert erasure.shared_kids == _tombstoned(erasure.keys)[erasure.shared]
    later = _created(erasure.keys)[erasure.shared] - erasure.shared_kids
    assert 1 == len(later)


def test_pii_erase_tombstones_every_key_and_announces_it(erasure: Erasure) -> None:
    """
    `kyc-bridge pii erase SUBJECT` prints the erased key ids, tombstones each of them
    and publishes a `kyc.erased` event (reason "operator") on the project's topic.
    """
    assert 0 == erasure.erase.returncode, erasure.erase.stderr[-2000:]
    printed = orjson.loads(erasure.erase.stdout)
    assert [erasure.operator] == list(printed)
    assert erasure.operator_kids == set(printed[erasure.operator])
    assert erasure.operator_kids == _tombstoned(erasure.keys)[erasure.operator]
    event = _erased_event(erasure, erasure.operator)
    assert ("operator", "operator", "plain") == (event.reason, event.channel, event.project)
    assert erasure.operator_kids == event.key_ids


def test_a_tombstone_from_elsewhere_erases_the_keys_created_before_it(
    erasure: Erasure,
) -> None:
    """
    A tombstone of a subject for a kid no bridge has (another party's erasure): bridge B
    tombstones the key it created for the subject just before, after its key record and
    with the same `kyc_erased_at` (bridge A, if it had read that key record by then,
    does too: a second tombstone changes nothing); no other key is made or erased.
    """
    mine = key_record_key(erasure.swept, erasure.swept_kid)
    records = [r for r in erasure.keys if r.key == mine]
    assert records[0].value is not None  # the key record comes first
    assert 1 <= len(records) - 1 == sum(r.value is None for r in records) <= 2
    assert {erasure.swept_at.encode()} == {
        r.headers[ERASED_AT_HEADER] for r in records if r.value is None
    }
    assert {erasure.swept_kid} == _created(erasure.keys)[erasure.swept]
    assert {erasure.swept_kid, "elsewhere"} == _tombstoned(erasure.keys)[erasure.swept]


def test_a_delete_that_is_the_first_webhook_erases_its_own_key(erasure: Erasure) -> None:
    """
    A `delete` for a submission the bridge has no key for yet: the key its record is
    encrypted with is tombstoned too, and the `kyc.erased` event lists it.
    """
    created = _created(erasure.keys)[erasure.fresh]
    assert 1 == len(created)
    assert created == _tombstoned(erasure.keys).get(erasure.fresh, set())
    assert created == _erased_event(erasure, erasure.fresh).key_ids


@pytest.mark.parametrize("reader", ["cli", "python"])
async def test_reader_erases_exactly_the_erased_submissions(
    erasure: Erasure, kafka: Broker, reader: str
) -> None:
    """
    The reader (`events read --decrypt`, KeysTopicFollower + Decryptor) gives
    `"pii": "erased"` with the clear fields for every record published before an
    erasure, and the clear event for every other record (other submissions, and new
    webhooks of an erased submission); `kyc.erased` events come back as published.
    """
    if reader == "cli":
        decrypted = erasure.printed
    else:
        decrypted = await _decrypt_all(
            erasure.kek, kafka.bootstrap, erasure.topics.keys, erasure.events
        )
    first = _first_copies(erasure.events)
    for event_id, posted in erasure.posted.items():
        expected = _expected(posted, orjson.loads(first[event_id].value or b"{}"))
        if event_id in erasure.gone:
            expected = erased_form(expected)
        assert expected == decrypted[event_id], (posted.payload["submission_id"], event_id)
    erased = _erased_events(erasure.events)
    assert 3 == len(erased)
    for event in erased:
        assert event.value == decrypted[str(event.value["event_id"])]


def test_erasure_exposes_no_personal_data_or_keys(erasure: Erasure) -> None:
    """Both bridge logs, /metrics and the CLIs' stderr, all at DEBUG, hold no secret."""
    assert {} == erasure.exposure.leaks()


# ----------------------------------------------------------------------- 3. key order


@dataclass
class Faults:
    """A stream through a broker outage and SIGKILLs of the bridge, read back."""

    stream: Stream
    bootstrap: str
    topics: Topics
    events: list[ConsumedRecord]
    keys: list[ConsumedRecord]
    dead: list[ConsumedRecord]
    decrypted: dict[tuple[int, int], JSONObject]  # (partition, offset) -> every copy
    exposure: Exposure


async def _run_faults(broker: Broker, workdir: Path, key: dict[str, str]) -> Faults:
    topics = Topics.unique("faults")
    # Both topics stamp records with the broker's append time, so the test can see the
    # order in which they were written. The keys topic is created as the bridge would.
    append_time = {"message.timestamp.type": "LogAppendTime"}
    await broker.acreate_topic(topics.events, partitions=3, configs=append_time)
    await broker.acreate_topic(topics.dlq)
    await broker.acreate_topic(
        topics.keys, partitions=3, configs={"cleanup.policy": "compact", **append_time}
    )
    kek_path = write_jwks(workdir / "kek.jwks", key)
    bridge = make_bridge(
        workdir,
        broker.bootstrap,
        topics.events,
        BRIDGE_PII_PROTECTION="encrypt",
        BRIDGE_PII_KEK_FILE=str(kek_path),
        BRIDGE_PII_KEYS_TOPIC=topics.keys,
        BRIDGE_STATE_TOPIC=topics.state,
    )
    await asyncio.to_thread(bridge.start, wait="/readyz")
    stream = Stream(bridge.url + "/webhooks/argos")
    exposure = Exposure()

    async def chaos() -> None:
        await asyncio.sleep(1.5)
        await asyncio.to_thread(broker.stop)  # outage: key records and events pile up
        await asyncio.sleep(1.5)
        await asyncio.to_thread(bridge.kill)  # ... and the bridge dies with them spooled
        await asyncio.sleep(0.5)
        await asyncio.to_thread(bridge.start)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(broker.restart)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(bridge.kill)  # killed again while it drains the backlog
        await asyncio.sleep(0.5)
        await asyncio.to_thread(bridge.start)

    try:
        await asyncio.gather(stream.run(240, 3), chaos())
        await wait_until(partial(spool_empty, bridge), 120)
        exposure.add("metrics", await metrics_text(bridge))
    finally:
        await asyncio.to_thread(bridge.stop)
        exposure.add("bridge log", bridge.logs())
    events = await read_to_end(broker.bootstrap, topics.events)
    keys = await read_to_end(broker.bootstrap, topics.keys)
    dead = await read_to_end(broker.bootstrap, topics.dlq)
    kek = JwksFileKek.from_file(kek_path)
    decryptor = Decryptor(kek)
    for record in keys:
        decryptor.add_key_record(record.key, record.value)
    decrypted = {
        (r.partition, r.offset): await decryptor.decrypt_event(r.value or b"") for r in events
    }
    exposure.secrets |= {f"{sid}@example.com" for sid in stream.acked}
    exposure.secrets |= {TOKEN, key["k"]} | await data_key_secrets(keys, kek)
    return Faults(stream, broker.bootstrap, topics, events, keys, dead, decrypted, exposure)


@pytest.fixture(scope="module", name="faults")
def _faults(brokers: BrokerPool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faults]:
    """The key-order scenario on its own broker (it is stopped and restarted)."""
    broker = brokers.start(f"pii-faults-{uuid.uuid4().hex[:6]}")
    try:
        workdir = tmp_path_factory.mktemp("pii-faults")
        yield asyncio.run(_run_faults(broker, workdir, _random_jwk("kek-faults")))
    finally:
        broker.stop()


async def test_every_acknowledged_event_decrypts_after_an_outage_and_sigkills(
    faults: Faults,
) -> None:
    """
    After a broker outage and two SIGKILLs mid-stream, every 2xx'd event is on the
    topic, in order per submission, and every record on the topic (duplicates too)
    decrypts: none is `"pii": "erased"`, so none was published before its key.
    """
    stream = faults.stream
    assert 720 == stream.acked_count
    assert stream.statuses.get(202, 0) > 0, "the outage never pushed anything through the spool"
    assert stream.errors > 0, "the kills never interrupted a request"
    assert [] == faults.dead  # no key record or event was refused for good
    known = {r.kid for r in live_key_records(faults.keys)}
    unreadable = [
        (r.partition, r.offset, r.key, _kid(r), _kid(r) in known)
        for r in faults.events
        if faults.decrypted[(r.partition, r.offset)]["pii"] != "clear"
    ]
    assert [] == unreadable

    def step_of(record: ConsumedRecord) -> int:
        raw = faults.decrypted[(record.partition, record.offset)]["raw"]
        assert isinstance(raw, dict)
        return int(str(raw["x_step"]))

    await verify(stream, faults.bootstrap, faults.topics.events, step_of=step_of)


def _kid(record: ConsumedRecord) -> str:
    """The data key id of a protected record."""
    return str(parse_compact(orjson.loads(record.value or b"{}")["protected"]).header["kid"])


def test_no_record_is_appended_before_its_key_record(faults: Faults) -> None:
    """The broker appended each record's key record no later than the record itself."""
    appended = {r.kid: 0 for r in live_key_records(faults.keys)}
    for record in faults.keys:
        kid = (record.key or b"").decode().rpartition("/")[2]
        appended[kid] = appended.get(kid) or record.timestamp
    late = []
    for record in faults.events:
        if appended[_kid(record)] > record.timestamp:
            late.append((record.partition, record.offset))
    assert [] == late


def test_faults_expose_no_personal_data_or_keys(faults: Faults) -> None:
    """The bridge log (across restarts) and /metrics hold no email, token or key."""
    assert {} == faults.exposure.leaks()


# ----------------------------------------------------------------------- 4. KEK rotation


@dataclass
class Rotation:
    """Webhooks before and after a restart with a new first KEK."""

    old: dict[str, str]
    new: dict[str, str]
    topics: Topics
    posted: dict[str, Posted]  # event id -> what was sent
    kids_before: set[str]  # the data keys created before the restart
    returning: str  # a submission seen before the restart, with a webhook after it
    events: list[ConsumedRecord]
    keys: list[ConsumedRecord]
    exposure: Exposure


async def _run_rotation(kafka: Broker, workdir: Path) -> Rotation:
    old, new = _random_jwk("kek-2025-01"), _random_jwk("kek-2025-07")
    topics = Topics.unique("rotate")
    await kafka.acreate_topic(topics.events, partitions=3)
    await kafka.acreate_topic(topics.dlq)
    kek_path = write_jwks(workdir / "kek.jwks", old)
    env = {
        "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "BRIDGE_CONFIG_FILE": str(write_projects(workdir / "projects.toml")),
        "BRIDGE_PII_PROTECTION": "encrypt",
        "BRIDGE_PII_KEK_FILE": str(kek_path),
        **topics.env(),
    }
    bridge = BridgeProcess(workdir, env)
    names = [n for n in fixture_names() if n != "delete"]
    returning = f"back-{uuid.uuid4().hex[:10]}"
    phases = [
        [*(fixture_payload(n) for n in names[::2]), person(returning, 0)],
        [*(fixture_payload(n) for n in names[1::2]), person(returning, 1)],
    ]
    posted: dict[str, Posted] = {}
    exposure = Exposure()
    kids_before: set[str] = set()
    try:
        for phase, payloads in enumerate(phases):
            if phase:
                write_jwks(kek_path, new, old)  # rotate: the new key first, the old kept
            await asyncio.to_thread(bridge.start, wait="/readyz")
            async with aiohttp.ClientSession() as session:
                for payload in payloads:
                    reply = await post(session, _webhook(bridge), orjson.dumps(payload))
                    assert reply.status in (200, 202), reply.body
                    posted[str(reply.body["event_id"])] = Posted(payload, "plain", False, reply)
            await wait_until(partial(spool_empty, bridge), 60)
            exposure.add("metrics", await metrics_text(bridge))
            await asyncio.to_thread(bridge.terminate)
            if not phase:
                before = await read_to_end(kafka.bootstrap, topics.keys)
                kids_before = {r.kid for r in live_key_records(before)}
    finally:
        await asyncio.to_thread(bridge.stop)
        exposure.add("bridge log", bridge.logs())
    events = await read_to_end(kafka.bootstrap, topics.events)
    keys = await read_to_end(kafka.bootstrap, topics.keys)
    exposure.secrets |= canaries(_clear_events(posted.values(), events))
    exposure.secrets |= {PLAIN_TOKEN, ENC_TOKEN, api_key(), old["k"], new["k"]}
    rotated = JwksFileKek.from_file(kek_path)
    exposure.secrets |= await data_key_secrets(keys, rotated)
    return Rotation(old, new, topics, posted, kids_before, returning, events, keys, exposure)


@pytest.fixture(scope="module", name="rotation")
def _rotation(kafka: Broker, tmp_path_factory: pytest.TempPathFactory) -> Rotation:
    """The KEK rotation scenario, run once for the module."""
    return asyncio.run(_run_rotation(kafka, tmp_path_factory.mktemp("pii-rotation")))


def test_new_data_keys_are_wrapped_by_the_new_first_kek(rotation: Rotation) -> None:
    """
    Key records created before the restart name the old KEK (`kek_kid` and the
    `wrapped_key` header), those created after it the new one; a submission seen
    before keeps its data key (the old KEK still unwraps it).
    """
    records = live_key_records(rotation.keys)
    wrapped = {
        r.kid: (r.kek_kid, parse_compact(r.wrapped_key).header["kid"], r.subject) for r in records
    }
    after = set(wrapped) - rotation.kids_before
    assert rotation.kids_before
    assert after
    old, new = rotation.old["kid"], rotation.new["kid"]
    assert {(old, old)} == {wrapped[kid][:2] for kid in rotation.kids_before}
    assert {(new, new)} == {wrapped[kid][:2] for kid in after}
    assert 1 == len([kid for kid, w in wrapped.items() if w[2] == rotation.returning])


async def test_every_record_decrypts_after_the_rotation(rotation: Rotation, kafka: Broker) -> None:
    """With the rotated JWK Set, the reader decrypts the records from before and after it."""
    kek = JwksFileKek(orjson.dumps({"keys": [rotation.new, rotation.old]}))
    decrypted = await _decrypt_all(kek, kafka.bootstrap, rotation.topics.keys, rotation.events)
    first = _first_copies(rotation.events)
    for event_id, posted in rotation.posted.items():
        expected = _expected(posted, orjson.loads(first[event_id].value or b"{}"))
        assert expected == decrypted[event_id], posted.payload.get("webhook_trigger")


def test_rotation_exposes_no_personal_data_or_keys(rotation: Rotation) -> None:
    """The bridge log (both runs) and /metrics hold neither KEK, nor any secret."""
    assert {} == rotation.exposure.leaks()
