"""`dlq replay` without a broker: reading dead letters, filters, the replayer on the port."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
import pytest

from bridge import crypto
from bridge.commands.dlq import (
    REASONS,
    DeadLetter,
    ReplayOptions,
    _Replayer,
    parse_since,
)
from bridge.config import load_settings
from bridge.deadletter import build_dead_letter
from bridge.errors import PublishError
from bridge.events import EventFactory
from bridge.publish import Delivery, Record
from bridge.publish.memory import MemoryPublisher
from bridge.schemas import load_registry
from bridge.types import JSONObject

KEY = "rotated-api-key-0002"
RECEIVED = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
PAYLOAD: JSONObject = {"webhook_trigger": "approved", "submission_id": "sub_dlq_unit"}


def _dead_letter(
    body: bytes, *, reason: str = "decryption_failed", project: str = "default"
) -> bytes:
    event = build_dead_letter(
        body, reason=reason, detail="test", project=project, received_at=RECEIVED, request={}
    )
    return event.record.value


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


@pytest.fixture(name="publisher")
async def _publisher() -> MemoryPublisher:
    """A started in-memory publisher."""
    publisher = MemoryPublisher()
    await publisher.start()
    return publisher


def _replayer(publisher: MemoryPublisher | _Flaky, *, dry_run: bool = False) -> _Replayer:
    settings = load_settings({"BRIDGE_ARGOS_API_KEYS": f"old-key-0001,{KEY}"}, require_tokens=False)
    return _Replayer(settings, publisher, dry_run=dry_run, retry_delays_s=(0.0, 0.0))


def _encrypted_letter() -> DeadLetter:
    body = orjson.dumps({"data": crypto.encrypt(orjson.dumps(PAYLOAD), KEY)})
    return DeadLetter.parse(_dead_letter(body))


async def test_replayed_event_keeps_its_deterministic_id(publisher: MemoryPublisher) -> None:
    """The republished record is the event the bridge would have built: same id, same topic."""
    assert None is await _replayer(publisher).replay(_encrypted_letter())
    ((topic, _), records), *_ = publisher.log.items()
    expected = EventFactory(load_registry()).build(
        PAYLOAD, project="default", received_at=RECEIVED, encrypted=True
    )
    assert ("kyc.events.v1", [expected.record.value]) == (topic, [r.value for r in records])
    assert (("ce_id", expected.event_id.encode()) in records[0].headers) is True


async def test_dry_run_publishes_nothing(publisher: MemoryPublisher) -> None:
    """A dry run decodes and validates, answers as if replayed, and publishes nothing."""
    assert None is await _replayer(publisher, dry_run=True).replay(_encrypted_letter())
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
    publisher: MemoryPublisher, value: bytes, code: str
) -> None:
    """A dead letter that cannot be replayed returns a stable code and publishes nothing."""
    assert code == await _replayer(publisher).replay(DeadLetter.parse(value))
    assert {} == dict(publisher.log)


class _Flaky:
    """A publisher that fails `failures` times with a transient error, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.published: list[Record] = []

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def probe(self) -> bool:
        return True

    async def partition_for(self, topic: str, key: bytes) -> int:
        return 0

    async def publish(
        self, topic: str, partition: int, records: Sequence[Record]
    ) -> list[Delivery]:
        if self.failures:
            self.failures -= 1
            raise PublishError("broker not reachable")
        self.published.extend(records)
        return [Delivery(0, i) for i, _ in enumerate(records)]

    @property
    def max_batch_bytes(self) -> int:
        return 1 << 20

    @property
    def connected(self) -> bool:
        return True


async def test_transient_publish_errors_are_retried_then_raised() -> None:
    """A brief outage is retried; one that outlasts the retries is a PublishError (exit 1)."""
    brief = _Flaky(failures=2)
    assert None is await _replayer(brief).replay(_encrypted_letter())
    assert 1 == len(brief.published)
    with pytest.raises(PublishError):
        await _replayer(_Flaky(failures=3)).replay(_encrypted_letter())
