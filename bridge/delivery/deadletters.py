"""
Dead letters, in one place: built here, stored through the spool, counted.

Two ways in: a request whose body cannot become an event (`store`), and a
record Kafka refuses for good when the relay publishes it (`replacement`,
which only builds the record that takes its place; the relay stores it).
Both keep the body exactly as received, except a body that arrived in plain
text for a project whose personal data is protected: in encrypt mode it is
sealed with a one-off data key wrapped by the KEK (`body_sealed`); in redact
mode (or with no KEK) it is not kept at all, and `pii` says `redacted`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from bridge.config import PiiMode
from bridge.deadletter import (
    DEAD_LETTER_TYPE,
    UNWRITABLE,
    Origin,
    build_dead_letter,
    dead_letter_id,
)
from bridge.decode import is_ciphertext
from bridge.delivery.spool import Entry, Spool, SpooledRecord
from bridge.errors import InvalidPayloadError
from bridge.events import Event
from bridge.metrics import Metrics
from bridge.pii import KeyEncryptionKey, seal_inline

__all__ = ["DeadLetters"]

log = structlog.get_logger("bridge.deadletters")


class DeadLetters:
    """Builds, stores and counts every dead letter; see the module docstring."""

    def __init__(
        self,
        spool: Spool,
        topic: str,
        metrics: Metrics,
        *,
        mode: Callable[[str | None], PiiMode] = lambda project: "clear",
        kek: KeyEncryptionKey | None = None,
    ) -> None:
        self._spool = spool
        self._topic = topic
        self._metrics = metrics
        self._mode = mode
        self._kek = kek

    @property
    def topic(self) -> str:
        """The dead-letter topic."""
        return self._topic

    async def store(self, origin: Origin, error: InvalidPayloadError) -> Event:
        """
        Store the dead letter of a request that could not become an event (once per
        distinct body and reason within the dedup window: the id derives from both).

        Raises:
            ShuttingDownError, SpoolFullError, SpoolUnavailableError: not stored.
            KekUnavailableError: the body must be sealed and the KEK did not answer.
        """
        dead = await self._build(origin, error.code, error.message)
        (appended,) = await self._spool.append([Entry(dead.event_id, self._topic, dead.record)])
        if appended.outcome == "stored":  # a repeat of the same body shares its dead letter
            self._count(error.code)
        return dead

    async def _build(self, origin: Origin, reason: str, detail: str) -> Event:
        mode = self._mode(origin.project)
        if mode == "clear" or is_ciphertext(origin.body):
            return origin.dead_letter(reason=reason, detail=detail)
        if mode == "redact" or self._kek is None:  # redact keeps no personal data at all
            return origin.dead_letter(
                reason=reason,
                detail=f"{detail}; body not kept (personal data, {mode} mode)",
                keep_body=False,
                redacted=True,
            )
        sealed = await seal_inline(
            origin.body, self._kek, event_id=dead_letter_id(origin.body, reason)
        )
        return origin.dead_letter(
            reason=reason, detail=detail, sealed={k: str(v) for k, v in sealed.items()}
        )

    def replacement(
        self, record: SpooledRecord, origin: bytes | None, error: InvalidPayloadError
    ) -> Entry | None:
        """
        Return the record that takes the place of one Kafka refused for good, or
        None when even the body-less dead letter was refused (it is dropped; logged).
        """
        if record.topic != self._topic:
            dead = self._refused(record, origin, error)
        elif dict(record.record.headers).get("kyc_dlq_reason") != UNWRITABLE.encode():
            # Even the dead letter is too large for the topic: keep its id and reason only.
            dead = build_dead_letter(
                b"",
                reason=UNWRITABLE,
                detail=f"dead letter {record.event_id} was refused by kafka ({error.code})",
                project=None,
                received_at=datetime.fromtimestamp(record.accepted_at, UTC),
                request={},
            )
        else:
            log.error("dlq.dropped_unwritable", event_id=record.event_id, reason=error.code)
            self._count(UNWRITABLE)
            return None
        self._count(error.code)
        return Entry(dead.event_id, self._topic, dead.record)

    def _refused(
        self, record: SpooledRecord, origin: bytes | None, error: InvalidPayloadError
    ) -> Event:
        detail = f"kafka refused event {record.event_id} for good ({error.message})"
        if origin is not None:
            try:
                return Origin.decode(origin).dead_letter(reason=error.code, detail=detail)
            except (ValueError, KeyError):
                pass
        return build_dead_letter(
            b"",
            reason=error.code,
            detail=f"{detail}; the original body was not kept",
            project=None,
            received_at=datetime.fromtimestamp(record.accepted_at, UTC),
            request={},
        )

    def _count(self, reason: str) -> None:
        self._metrics.dead_letters.labels(reason).inc()
        self._metrics.events.labels(DEAD_LETTER_TYPE, "dlq").inc()
