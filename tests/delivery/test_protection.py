"""
The delivery core with personal-data protection and the current state, in memory:
key records before the records they protect, erasure on `delete`, the state topic
after each acknowledged event, stale events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from bridge.config import load_settings
from bridge.deadletter import Origin
from bridge.delivery.ingest import Ingest
from bridge.errors import NotJsonError, PublishError
from bridge.pii import (
    ERASURE_MARK,
    Decryptor,
    JwksFileKek,
    erasure_tombstones,
    key_record,
    key_record_key,
    new_data_key,
    parse_key_record,
    stamp,
    tombstone_erased_at,
    tombstone_headers,
)
from bridge.publish import Delivery, ReadRecord, Record, TopicSpec
from bridge.publish.memory import MemoryPublisher, MemoryReader
from bridge.state import CurrentState
from bridge.types import JSONObject
from tests.delivery.running import FACTORY, RECEIVED, accept, running
from tests.pii.conftest import jwk, write_jwks

EVENTS, KEYS, STATE = "kyc.events.v1", "kyc.pii-keys.v1", "kyc.state.v1"


def _approved(subject: str, updated_at: str, status: str = "approved", **extra: str) -> JSONObject:
    payload: JSONObject = {
        "webhook_trigger": status,
        "submission_id": subject,
        "email": f"{subject}@example.com",
        "fullName": "CANARY PERSON",
        "kyc_result": {"status": status, "updated_at": updated_at},
    }
    payload.update(extra)
    return payload


async def _settled(ingest: Ingest, publisher: MemoryPublisher) -> None:
    async with asyncio.timeout(10):
        while ingest.spool.events:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)


def _values(publisher: MemoryPublisher, topic: str) -> list[JSONObject]:
    found = [orjson.loads(r.value) for r in publisher.records(topic) if r.value is not None]
    return [v for v in found if isinstance(v, dict)]


@pytest.fixture(name="kek_file")
def _kek_file(tmp_path: Path) -> Path:
    """A JWK Set file with one key-encryption key."""
    return write_jwks(tmp_path / "kek.jwks", jwk("kek-1", 7))


def _ingest(
    tmp_path: Path, publisher: MemoryPublisher, mode: str, kek_file: Path | None = None
) -> AbstractAsyncContextManager[Ingest]:
    env = {
        "BRIDGE_AUTH_TOKENS": "protection-token-0000001",
        "BRIDGE_SPOOL_DIR": str(tmp_path / "spool"),
        "BRIDGE_PII_PROTECTION": mode,
    }
    if kek_file is not None:
        env["BRIDGE_PII_KEK_FILE"] = str(kek_file)
    kek = JwksFileKek.from_file(kek_file) if kek_file is not None else None
    return running(load_settings(env), publisher, kek=kek)


async def test_encrypted_records_follow_their_key_record_and_decrypt_to_clear_mode(
    tmp_path: Path, kek_file: Path
) -> None:
    """The key record is published first; the record decrypts to exactly the clear one."""
    publisher = MemoryPublisher(partitions=1)
    async with _ingest(tmp_path, publisher, "encrypt", kek_file) as ingest:
        await accept(ingest, _approved("sub-1", "2025-03-14T09:21:07.412Z"))
        await _settled(ingest, publisher)
    (key,) = publisher.records(KEYS)
    (event,) = _values(publisher, EVENTS)
    assert b"CANARY" not in b"".join(r.value or b"" for r in publisher.records(EVENTS))
    assert ("encrypted", "raw" in event) == (event["pii"], False)
    decryptor = Decryptor(JwksFileKek.from_file(kek_file))
    decryptor.add_key_record(key.key, key.value)
    clear = FACTORY.build(
        _approved("sub-1", "2025-03-14T09:21:07.412Z"),
        project="default",
        received_at=RECEIVED,
        encrypted=False,
    )
    assert orjson.loads(clear.record.value or b"") == await decryptor.decrypt_event(
        orjson.dumps(event)
    )


async def test_redact_mode_drops_personal_fields_and_raw(tmp_path: Path) -> None:
    """Redacted records keep ids, status and times, and say so."""
    publisher = MemoryPublisher(partitions=1)
    async with _ingest(tmp_path, publisher, "redact") as ingest:
        await accept(ingest, _approved("sub-r", "2025-03-14T09:21:07.412Z"))
        await _settled(ingest, publisher)
    (event,) = _values(publisher, EVENTS)
    data = event["data"]
    assert isinstance(data, dict)
    assert ("redacted", "sub-r", "approved") == (
        event["pii"],
        data["submission_id"],
        data["status"],
    )
    assert {"raw", "protected"}.isdisjoint(event)
    assert "email" not in data
    assert [] == publisher.records(KEYS)


async def test_delete_erases_every_data_key_of_the_submission(
    tmp_path: Path, kek_file: Path
) -> None:
    """A `delete` tombstones the subject's keys and publishes kyc.erased; others stay."""
    publisher = MemoryPublisher(partitions=1)
    async with _ingest(tmp_path, publisher, "encrypt", kek_file) as ingest:
        await accept(ingest, _approved("sub-d", "2025-03-14T09:21:07.412Z"))
        await accept(ingest, _approved("sub-keep", "2025-03-14T09:21:07.412Z"))
        delete: JSONObject = {
            "webhook_trigger": "delete",
            "submission_id": "sub-d",
            "account_email": "admin@example.com",
            "delete_time": "2025-06-01T04:12:09.733Z",
        }
        await accept(ingest, delete)
        await accept(ingest, _approved("sub-d", "2025-07-01T00:00:00.000Z"))  # after erasure
        await _settled(ingest, publisher)
    records = publisher.records(KEYS)
    parsed = [parse_key_record(r.key, r.value) for r in records]
    erased_kid = next(p.kid for p in parsed if p.subject == "sub-d")
    assert [(r.key, None) for r in records if r.value is None] == [
        (f"sub-d/{erased_kid}".encode(), None)
    ]
    (tombstone,) = [r for r in records if r.value is None]
    assert tombstone_erased_at(tombstone.headers) is not None  # other replicas sweep up to it
    events = _values(publisher, EVENTS)
    erased = [e for e in events if e["event_type"] == "kyc.erased"]
    assert 1 == len(erased)
    data = erased[0]["data"]
    assert isinstance(data, dict)
    assert ("sub-d", "argos_delete") == (data["submission_id"], data["reason"])
    decryptor = Decryptor(JwksFileKek.from_file(kek_file))
    for record in records:
        decryptor.add_key_record(record.key, record.value)
    seen = [await decryptor.decrypt_event(orjson.dumps(e)) for e in events]
    by_subject = {(s["subject"], s["event_type"], s.get("pii")) for s in seen}
    assert ("sub-d", "kyc.approved", "erased") in by_subject
    assert ("sub-keep", "kyc.approved", "clear") in by_subject
    later = [s for s in seen if s["subject"] == "sub-d" and str(s.get("occurred_at")) > "2025-06"]
    assert ["clear"] == [s["pii"] for s in later if s["event_type"] == "kyc.approved"]


async def test_a_delete_that_is_the_first_webhook_of_its_submission_erases_its_own_key(
    tmp_path: Path, kek_file: Path
) -> None:
    """
    A `delete` for a submission without a data key yet: the new key its record is
    encrypted with is tombstoned right after it and listed in kyc.erased, so the
    record is unreadable; the next webhook of the submission gets a new key.
    """
    publisher = MemoryPublisher(partitions=1)
    delete: JSONObject = {
        "webhook_trigger": "delete",
        "submission_id": "sub-f",
        "account_email": "dpo@example.com",
        "delete_time": "2025-06-01T04:12:09.733Z",
    }
    async with _ingest(tmp_path, publisher, "encrypt", kek_file) as ingest:
        await accept(ingest, delete)
        await accept(ingest, _approved("sub-f", "2025-07-01T00:00:00.000Z"))
        await _settled(ingest, publisher)
    records = publisher.records(KEYS)
    first, second = [parse_key_record(r.key, r.value).kid for r in records if r.value]
    assert [f"sub-f/{first}".encode()] == [r.key for r in records if r.value is None]
    events = _values(publisher, EVENTS)
    (erased,) = [e["data"] for e in events if e["event_type"] == "kyc.erased"]
    assert isinstance(erased, dict)
    assert [first] == erased["key_ids"]
    decryptor = Decryptor(JwksFileKek.from_file(kek_file))
    for record in records:
        decryptor.add_key_record(record.key, record.value)
    seen = [await decryptor.decrypt_event(orjson.dumps(e)) for e in events]
    assert [("kyc.delete", "erased"), ("kyc.erased", "clear"), ("kyc.approved", "clear")] == [
        (s["event_type"], s["pii"]) for s in seen
    ]
    assert first != second


class SlowAdminPublisher(MemoryPublisher):
    """
    Like a broker with auto.create.topics.enable: asking for a missing topic's metadata
    (partition_for, a reader's read) creates it with default configs; creating the
    compacted topics waits for `release`.
    """

    def __init__(self) -> None:
        super().__init__(partitions=1)
        self.release = asyncio.Event()

    def _touch(self, topic: str) -> None:
        self.configs.setdefault(topic, {"cleanup.policy": "delete"})

    async def partition_for(self, topic: str, key: bytes, *, wait_s: float = 0.0) -> int:
        self._touch(topic)
        return await super().partition_for(topic, key, wait_s=wait_s)

    def reader(self, topic: str) -> MemoryReader:
        publisher = self

        class Reader(MemoryReader):
            async def read(self, timeout_s: float) -> list[ReadRecord]:
                publisher._touch(topic)
                return await super().read(timeout_s)

        return Reader(self, topic)

    async def ensure_topics(self, specs: Sequence[TopicSpec]) -> list[str]:
        await self.release.wait()
        return await super().ensure_topics(specs)


async def test_the_keys_and_state_topics_are_untouched_until_created_compacted(
    tmp_path: Path, kek_file: Path
) -> None:
    """
    Until the bridge has created its compacted topics, neither the relay nor the
    followers ask for them (a broker would auto-create them uncompacted): the event
    waits in the spool behind its key record; once created, everything is published.
    """
    publisher = SlowAdminPublisher()
    async with _ingest(tmp_path, publisher, "encrypt", kek_file) as ingest:
        await accept(ingest, _approved("sub-t", "2025-03-14T09:21:07.412Z"))
        await asyncio.sleep(0.3)
        assert ({EVENTS}, 2) == (set(publisher.configs), ingest.spool.events)
        publisher.release.set()
        await _settled(ingest, publisher)
    assert {"compact"} == {publisher.configs[t]["cleanup.policy"] for t in (KEYS, STATE)}
    assert [1, 1, 1] == [len(publisher.records(t)) for t in (KEYS, EVENTS, STATE)]


async def test_the_state_topic_follows_acknowledged_events_and_stale_ones_change_nothing(
    tmp_path: Path,
) -> None:
    """rejected (t2), then an older approved (t1) and a repeat at t2: both stale, state t2."""
    publisher = MemoryPublisher(partitions=1)
    async with _ingest(tmp_path, publisher, "clear") as ingest:
        await accept(ingest, _approved("sub-s", "2025-03-20T11:02:48.950Z", "rejected"))
        await accept(ingest, _approved("sub-s", "2025-03-14T09:21:07.412Z"))
        await accept(ingest, _approved("sub-s", "2025-03-20T11:02:48.950Z", "rejected", x="1"))
        await _settled(ingest, publisher)
        stale = ingest._metrics.stale_events
    events = _values(publisher, EVENTS)
    assert [False, True, True] == [e["stale"] for e in events]
    states = [CurrentState.from_json(r.value or b"") for r in publisher.records(STATE)]
    assert [("rejected", "2025-03-20T11:02:48.950000Z")] == [
        (s.status, s.status_time) for s in states
    ]
    counted = [s.value for m in stale.collect() for s in m.samples if s.name.endswith("_total")]
    assert 2 == sum(counted)


async def test_a_state_record_is_published_only_after_its_event(tmp_path: Path) -> None:
    """While Kafka is down nothing is published; afterwards the event comes before its state."""
    publisher = MemoryPublisher(partitions=1)
    publisher.down = True
    async with _ingest(tmp_path, publisher, "clear") as ingest:
        await accept(ingest, _approved("sub-o", "2025-03-20T11:02:48.950Z"))
        assert (1, []) == (ingest.spool.events, publisher.records(STATE))
        publisher.down = False
        await _settled(ingest, publisher)
    assert 1 == len(publisher.records(EVENTS))
    assert [b"sub-o"] == [r.key for r in publisher.records(STATE)]


class HeldKeysPublisher(MemoryPublisher):
    """Refuses to publish to the keys topic while `hold` is set (reading works)."""

    def __init__(self) -> None:
        super().__init__(partitions=1)
        self.hold = True

    async def publish(
        self, topic: str, partition: int, records: Sequence[Record]
    ) -> list[Delivery]:
        if topic == KEYS and self.hold:
            raise PublishError("keys topic held by the test")
        return await super().publish(topic, partition, records)

    async def inject(self, record: Record) -> None:
        """Publish to the keys topic as another party would (past the hold)."""
        await super().publish(KEYS, 0, [record])


def _kids(ingest: Ingest, subject: str) -> dict[str, bool]:
    return {row.kid: row.erased for row in ingest.spool.side.keys(subject)}


async def test_a_tombstone_read_back_erases_the_keys_created_before_its_erasure(
    tmp_path: Path, kek_file: Path
) -> None:
    """
    Another party erases a subject (`pii erase`, another replica's `delete`) while this
    replica's key of it is not on the keys topic yet: reading the tombstone, the replica
    erases that key too, its tombstone (same erasure time) follows the key record, the
    event encrypted with it reads as erased, and the next webhook gets a new key. A
    subject erased before its key was created keeps the key.
    """
    publisher = HeldKeysPublisher()
    before = stamp(datetime.now(UTC) - timedelta(hours=1))
    async with _ingest(tmp_path, publisher, "encrypt", kek_file) as ingest:
        await accept(ingest, _approved("sub-x", "2025-03-14T09:21:07.412Z"))
        await accept(ingest, _approved("sub-y", "2025-03-14T09:21:07.412Z"))
        ((own_x, _),) = _kids(ingest, "sub-x").items()
        ((own_y, _),) = _kids(ingest, "sub-y").items()
        await asyncio.sleep(0.002)  # the erasure comes a millisecond after the key
        erased_at = stamp(datetime.now(UTC))
        for subject, at in (("sub-x", erased_at), ("sub-y", before)):
            headers = tombstone_headers(at)
            await publisher.inject(Record(key_record_key(subject, "other"), None, headers))
        async with asyncio.timeout(10):
            while not _kids(ingest, "sub-x").get(own_x):
                await asyncio.sleep(0.02)
        assert [] == [r for r in publisher.records(KEYS) if r.value is not None]  # still held
        publisher.hold = False
        await accept(ingest, _approved("sub-x", "2025-07-01T00:00:00.000Z"))
        await _settled(ingest, publisher)
        assert {own_y: False} == _kids(ingest, "sub-y")
    records = publisher.records(KEYS)
    mine = [r for r in records if r.key == key_record_key("sub-x", own_x)]
    assert [False, True] == [r.value is None for r in mine]  # the key record, then its tombstone
    assert erased_at == tombstone_erased_at(mine[1].headers)
    assert not any(r.key == key_record_key("sub-y", own_y) and r.value is None for r in records)
    live = [parse_key_record(r.key, r.value) for r in records if r.value is not None]
    assert 2 == len([k for k in live if k.subject == "sub-x"])  # a new key after the erasure
    decryptor = Decryptor(JwksFileKek.from_file(kek_file))
    for record in records:
        decryptor.add_key_record(record.key, record.value)
    seen = [await decryptor.decrypt_event(orjson.dumps(e)) for e in _values(publisher, EVENTS)]
    assert [("sub-x", "erased"), ("sub-y", "clear"), ("sub-x", "clear")] == [
        (s["subject"], s["pii"]) for s in seen
    ]


async def test_a_key_record_read_after_its_subjects_erasure_is_erased_if_created_before(
    tmp_path: Path, kek_file: Path
) -> None:
    """
    The creator of a key may be gone for good after publishing it, and its record may
    reach this replica after the tombstone that erased the subject (another partition,
    a later batch): the replica keeps each subject's latest erasure time (also across a
    restart), so such a key is erased on reading, with that erasure time; a key created
    after the erasure stays, and an older erasure read later does not move the time back.
    """
    publisher = HeldKeysPublisher()
    publisher.hold = False
    kek = JwksFileKek.from_file(kek_file)
    now = datetime.now(UTC)
    erased_at, older = stamp(now), stamp(now - timedelta(hours=2))

    async def ghost(created: datetime) -> str:
        dek = new_data_key("sub-g")
        key, value = key_record(dek, await kek.wrap(dek), created_at=created)
        await publisher.inject(Record(key, value))
        return dek.kid

    async def erased(ingest: Ingest, kid: str) -> None:
        async with asyncio.timeout(10):
            while not _kids(ingest, "sub-g").get(kid):
                await asyncio.sleep(0.02)

    async with _ingest(tmp_path, publisher, "encrypt", kek_file) as ingest:
        await publisher.inject(
            Record(key_record_key("sub-g", "other"), None, tombstone_headers(erased_at))
        )
        async with asyncio.timeout(10):
            while ingest.spool.side.erased_at("sub-g") is None:
                await asyncio.sleep(0.02)
        early = await ghost(now - timedelta(seconds=1))
        late = await ghost(now + timedelta(seconds=1))
        await erased(ingest, early)
        await publisher.inject(
            Record(key_record_key("sub-g", "older"), None, tombstone_headers(older))
        )
        await _settled(ingest, publisher)
        assert erased_at == ingest.spool.side.erased_at("sub-g")
    async with _ingest(tmp_path, publisher, "encrypt", kek_file) as ingest:
        after_restart = await ghost(now - timedelta(minutes=1))
        await erased(ingest, after_restart)
        await _settled(ingest, publisher)
        assert {early: True, late: False, after_restart: True} == {
            kid: erased
            for kid, erased in _kids(ingest, "sub-g").items()
            if kid in (early, late, after_restart)
        }
    tombstones = {
        r.key: tombstone_erased_at(r.headers) for r in publisher.records(KEYS) if r.value is None
    }
    for kid in (early, after_restart):
        assert erased_at == tombstones[key_record_key("sub-g", kid)]
    assert key_record_key("sub-g", late) not in tombstones


async def test_an_operator_erasure_of_a_subject_with_no_known_key_still_erases_late_keys(
    tmp_path: Path, kek_file: Path
) -> None:
    """
    `pii erase` finds no key of a subject (its only key is still held by a replica that
    cannot reach the keys topic): it publishes one tombstone for `<subject>/erasure`
    carrying the erasure time, and the replica erases its key once it reads it (before,
    nothing was published and the late key stayed live).
    """
    publisher = HeldKeysPublisher()
    async with _ingest(tmp_path, publisher, "encrypt", kek_file) as ingest:
        await accept(ingest, _approved("sub-z", "2025-03-14T09:21:07.412Z"))
        ((own, _),) = _kids(ingest, "sub-z").items()
        await asyncio.sleep(0.002)  # the erasure comes a millisecond after the key
        erased_at = stamp(datetime.now(UTC))
        (marker,) = erasure_tombstones("sub-z", [], erased_at)
        assert key_record_key("sub-z", ERASURE_MARK) == marker.key
        await publisher.inject(marker)
        async with asyncio.timeout(10):
            while not _kids(ingest, "sub-z").get(own):
                await asyncio.sleep(0.02)
        publisher.hold = False
        await _settled(ingest, publisher)
    mine = [r for r in publisher.records(KEYS) if r.key == key_record_key("sub-z", own)]
    assert [False, True] == [r.value is None for r in mine]
    assert erased_at == tombstone_erased_at(mine[1].headers)


@pytest.mark.parametrize(("mode", "label"), [("redact", "redacted"), ("encrypt", "encrypted")])
async def test_a_plain_body_that_becomes_a_dead_letter_follows_the_projects_mode(
    tmp_path: Path, kek_file: Path, mode: str, label: str
) -> None:
    """
    A plain-text body that cannot become an event: in encrypt mode it is sealed; in
    redact mode it is not kept at all, even with a KEK loaded (sealed before, and labelled
    `clear` when dropped), and `pii` says `redacted`.
    """
    publisher = MemoryPublisher(partitions=1)
    body = b'{"webhook_trigger": "approved", "fullName": "CANARY PERSON"'
    async with _ingest(tmp_path, publisher, mode, kek_file) as ingest:
        origin = Origin(body, "default", datetime.now(UTC), {})
        dead = await ingest.reject(origin, NotJsonError("body is not JSON"))
    value = orjson.loads(dead.record.value or b"")
    assert label == value["pii"]
    kept = {"body_b64", "body_sealed"} & value["data"].keys()
    assert ({"body_sealed"} if mode == "encrypt" else set()) == kept
    assert b"CANARY" not in (dead.record.value or b"")
