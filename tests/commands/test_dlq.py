"""`dlq replay` without a broker: reading dead letters, filters, the replayer (in memory)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from bridge import crypto
from bridge.commands.dlq import (
    REASONS,
    DeadLetter,
    ReplayOptions,
    _Replayer,
    parse_since,
    settle,
)
from bridge.config import load_settings
from bridge.deadletter import build_dead_letter, dead_letter_id
from bridge.delivery.ingest import Ingest
from bridge.errors import PublishError
from bridge.events import EventFactory
from bridge.metrics import Metrics
from bridge.pii import JwksFileKek, seal_inline
from bridge.publish import Publisher
from bridge.publish.memory import MemoryPublisher
from bridge.schemas import load_registry
from bridge.types import JSONObject
from tests.pii.conftest import jwk, write_jwks

KEY = "rotated-api-key-0002"
RECEIVED = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
PAYLOAD: JSONObject = {"webhook_trigger": "approved", "submission_id": "sub_dlq_unit"}


def _dead_letter(
    body: bytes, *, reason: str = "decryption_failed", project: str = "default"
) -> bytes:
    event = build_dead_letter(
        body, reason=reason, detail="test", project=project, received_at=RECEIVED, request={}
    )
    return event.record.value or b""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25", datetime(2026, 11, 25, tzinfo=UTC)),
        ("2026-11-25T09:30:00Z", datetime(2026, 11, 25, 9, 30, tzinfo=UTC)),
        ("2026-11-25T18:30:00+09:00", datetime(2026, 11, 25, 9, 30, tzinfo=UTC)),
    ],
)
def test_since_accepts_rfc3339_and_dates(text: str, expected: datetime) -> None:
    """`--since` takes RFC 3339 with an offset, or a date meaning midnight UTC."""
    assert expected == parse_since(text)


@pytest.mark.parametrize("text", ["2026-11-25T09:30:00", "yesterday", "25.11.2026"])
def test_since_refuses_times_without_offset_and_other_forms(text: str) -> None:
    """A local time without offset, or another format, is refused (not guessed)."""
    with pytest.raises(ValueError, match=r"."):
        parse_since(text)


def test_reasons_are_the_dead_letter_codes() -> None:
    """`--reason` accepts the codes dead letters carry, including the body-less one."""
    assert {
        "decryption_failed", "invalid_json", "plaintext_not_allowed", "schema_validation_failed",
        "event_too_large", "dead_letter_too_large",
    } <= REASONS  # fmt: skip


def test_dead_letter_is_read_back() -> None:
    """A dead letter as the bridge writes it gives back its id, reason, project, time and body."""
    letter = DeadLetter.parse(_dead_letter(b"not json", reason="invalid_json"))
    assert ("invalid_json", "default", RECEIVED, b"not json") == (
        letter.reason,
        letter.project,
        letter.received_at,
        letter.body,
    )
    with pytest.raises(ValueError, match="dead letter"):
        DeadLetter.parse(b'{"data": {}}')


@pytest.mark.parametrize(
    ("reasons", "since", "selected"),
    [
        ((), None, True),
        (("decryption_failed",), None, True),
        (("invalid_json",), None, False),
        (("invalid_json", "decryption_failed"), "2026-11-25", True),
        ((), "2026-11-25T09:30:00Z", True),
        ((), "2026-11-25T09:30:01Z", False),
    ],
)
def test_filters_select_by_reason_and_received_at(
    reasons: tuple[str, ...], since: str | None, selected: bool
) -> None:
    """`--reason` (any of) and `--since` (received at or after) decide what is replayed."""
    options = ReplayOptions(
        group="g", reasons=frozenset(reasons), since=parse_since(since) if since else None
    )
    assert selected == options.selects(DeadLetter.parse(_dead_letter(b"x")))


FACTORY = EventFactory(load_registry())


@pytest.fixture(name="publisher")
async def _publisher() -> MemoryPublisher:
    """A started in-memory publisher."""
    publisher = MemoryPublisher()
    await publisher.start()
    return publisher


@contextlib.asynccontextmanager
async def _replayer(
    publisher: Publisher, tmp_path: Path, *, dry_run: bool = False, ack_timeout_s: float = 5.0
) -> AsyncIterator[_Replayer]:
    """A replayer over an Ingest with its own spool (like `replay_dlq`), or none (dry run)."""
    settings = load_settings(
        {"BRIDGE_ARGOS_API_KEYS": f"old-key-0001,{KEY}", "BRIDGE_SPOOL_DIR": str(tmp_path)},
        require_tokens=False,
    )
    if dry_run:
        yield _Replayer(settings, None, FACTORY)
        return
    ingest = Ingest(settings, publisher, Metrics(), factory=FACTORY)
    await ingest.start()
    try:
        yield _Replayer(settings, ingest, FACTORY, ack_timeout_s=ack_timeout_s)
    finally:
        ingest.gate.close(1.0)
        await ingest.stop()


def _encrypted_letter() -> DeadLetter:
    body = orjson.dumps({"data": crypto.encrypt(orjson.dumps(PAYLOAD), KEY)})
    return DeadLetter.parse(_dead_letter(body))


async def test_replayed_event_keeps_its_deterministic_id(
    publisher: MemoryPublisher, tmp_path: Path
) -> None:
    """The republished record is the event the bridge would have built: same id, same topic."""
    async with _replayer(publisher, tmp_path) as replayer:
        assert None is await replayer.replay(_encrypted_letter())
    records = publisher.records("kyc.events.v1")
    expected = FACTORY.build(PAYLOAD, project="default", received_at=RECEIVED, encrypted=True)
    assert [expected.record.value] == [r.value for r in records]
    assert (("ce_id", expected.event_id.encode()) in records[0].headers) is True


async def test_dry_run_publishes_nothing(publisher: MemoryPublisher, tmp_path: Path) -> None:
    """A dry run decodes and validates, answers as if replayed, and publishes nothing."""
    async with _replayer(publisher, tmp_path, dry_run=True) as replayer:
        assert None is await replayer.replay(_encrypted_letter())
    assert {} == dict(publisher.log)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (_dead_letter(b"still not json", reason="invalid_json"), "invalid_json"),
        (_dead_letter(orjson.dumps(PAYLOAD), project="gone"), "unknown_project"),
        (_dead_letter(b"", reason="dead_letter_too_large"), "body_not_kept"),
    ],
    ids=["still-invalid", "unknown-project", "no-body"],
)
async def test_what_still_fails_is_named_by_code(
    publisher: MemoryPublisher, tmp_path: Path, value: bytes, code: str
) -> None:
    """A dead letter that cannot be replayed returns a stable code and publishes nothing."""
    async with _replayer(publisher, tmp_path) as replayer:
        assert code == await replayer.replay(DeadLetter.parse(value))
    assert [] == publisher.records("kyc.events.v1")


async def test_an_event_kafka_does_not_acknowledge_in_time_is_a_publish_error(
    tmp_path: Path,
) -> None:
    """No acknowledgement within the timeout: PublishError (exit 1); nothing is committed."""
    publisher = MemoryPublisher()
    await publisher.start()
    publisher.down = True
    async with _replayer(publisher, tmp_path, ack_timeout_s=0.3) as replayer:
        with pytest.raises(PublishError):
            await replayer.replay(_encrypted_letter())


async def test_settling_keeps_the_state_records_of_replayed_events(
    publisher: MemoryPublisher, tmp_path: Path
) -> None:
    """
    Each replayed event's state record is appended once Kafka acknowledged the event:
    `settle` waits for them before the scratch spool goes, so none is left behind.
    """
    letters = []
    for i in range(3):
        payload = {**PAYLOAD, "submission_id": f"sub_dlq_{i}"}
        body = orjson.dumps({"data": crypto.encrypt(orjson.dumps(payload), KEY)})
        letters.append(DeadLetter.parse(_dead_letter(body)))
    async with _replayer(publisher, tmp_path) as replayer:
        for letter in letters:
            assert None is await replayer.replay(letter)
        assert replayer.ingest is not None
        await settle(replayer.ingest)
    assert 3 == len(publisher.records("kyc.events.v1"))
    assert 3 == len(publisher.records("kyc.state.v1"))


async def test_settling_names_what_kafka_did_not_take(tmp_path: Path) -> None:
    """State records still unacknowledged when the wait ends: PublishError with the count."""
    publisher = MemoryPublisher()
    await publisher.start()
    async with _replayer(publisher, tmp_path) as replayer:
        assert None is await replayer.replay(_encrypted_letter())
        publisher.down = True  # after the event's ack, before its state record's
        assert replayer.ingest is not None
        with pytest.raises(PublishError, match="1 state records"):
            await settle(replayer.ingest, timeout_s=0.3)


async def _sealed_letter(kek: JwksFileKek) -> DeadLetter:
    """The dead letter of a plain body of an encrypt-mode project: sealed under the KEK."""
    body = orjson.dumps(PAYLOAD)
    reason = "schema_validation_failed"
    sealed = await seal_inline(body, kek, event_id=dead_letter_id(body, reason))
    event = build_dead_letter(
        body, reason=reason, detail="test", project="default", received_at=RECEIVED,
        request={}, sealed={k: str(v) for k, v in sealed.items()},
    )  # fmt: skip
    return DeadLetter.parse(event.record.value or b"")


async def test_a_sealed_body_is_opened_with_the_kek_and_replayed(
    publisher: MemoryPublisher, tmp_path: Path
) -> None:
    """
    A dead letter whose plain body was sealed (encrypt mode) is opened with the KEK and
    replayed like any other (it failed as `unreadable_dead_letter` before); without the
    KEK it fails as `body_sealed_no_kek`, and publishes nothing.
    """
    kek = JwksFileKek.from_file(write_jwks(tmp_path / "kek.jwks", jwk("kek-1", 7)))
    letter = await _sealed_letter(kek)
    assert b"" == letter.body
    settings = load_settings(
        {"BRIDGE_ARGOS_API_KEYS": KEY, "BRIDGE_SPOOL_DIR": str(tmp_path / "spool")},
        require_tokens=False,
    )
    assert "body_sealed_no_kek" == await _Replayer(settings, None, FACTORY).replay(letter)
    ingest = Ingest(settings, publisher, Metrics(), factory=FACTORY)
    await ingest.start()
    try:
        assert None is await _Replayer(settings, ingest, FACTORY, kek=kek).replay(letter)
    finally:
        ingest.gate.close(1.0)
        await ingest.stop()
    (record,) = publisher.records("kyc.events.v1")
    expected = FACTORY.build(PAYLOAD, project="default", received_at=RECEIVED, encrypted=False)
    assert expected.record.value == record.value
