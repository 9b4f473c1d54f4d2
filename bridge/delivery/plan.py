"""
What one accepted draft becomes in the spool, decided in one place. Pure.

    [new key record]   when the subject's data key is new (encrypt mode)
    event              encrypted / redacted per the project; after its key record
    [tombstones ...]   a `delete` erases every data key of the submission
    [kyc.erased]       ... and says so, without personal data
    ... the event's follow-up: the submission's new current state (a state-topic
        record appended to the spool once Kafka acknowledged the event)

The event is stale when its ARGOS status time is not newer than the current
state's; a stale event is published but changes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bridge.config import PiiMode
from bridge.delivery.datakeys import Grant
from bridge.delivery.spool import Entry, NewKey, Prerequisite, SideWrite, StateRow
from bridge.events import Draft, Event, EventFactory, format_received_at
from bridge.publish import Record
from bridge.state import CurrentState, advance, is_stale

__all__ = ["Erasure", "Plan", "plan"]


@dataclass(frozen=True, slots=True)
class Erasure:
    """The tombstones that erase a subject's data keys, and their kids."""

    tombstones: tuple[Entry, ...]
    kids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """The entries to append for one draft, and what they mean."""

    event: Event
    entries: tuple[Entry, ...]
    index: int  # of the event among the entries
    side: SideWrite
    stale: bool
    state: CurrentState | None  # the state after the event (None: unchanged)


def plan(
    draft: Draft,
    *,
    factory: EventFactory,
    topic: str,
    mode: PiiMode,
    current: CurrentState | None,
    grant: Grant | None,
    origin: bytes | None,
    state_topic: str | None,
    erasure: Erasure | None,
    now: datetime,
) -> Plan:
    """
    Build the event and every record that goes with it (see the module docstring).

    Raises:
        SchemaValidationError: the event does not match its schema (a bug).
    """
    stale = is_stale(draft.status_time, current)
    event = factory.finish(draft, stale=stale, pii=mode, dek=grant.dek if grant else None)
    entries: list[Entry] = []
    new_keys: tuple[NewKey, ...] = ()
    after = grant.after if grant else None
    if grant is not None and grant.record is not None and grant.new_key is not None:
        entries.append(grant.record)
        new_keys = (grant.new_key,)
        after = Prerequisite(grant.record.topic, entry=0)
    index = len(entries)
    erase: str | None = None
    if erasure is not None:
        entries += erasure.tombstones
        erased = factory.erased(
            subject=draft.key,
            project=draft.project,
            reason="argos_delete",
            erased_at=now,
            key_ids=list(erasure.kids),
            delete_event_id=event.event_id,
        )
        entries.append(Entry(erased.event_id, topic, erased.record))
        erase = draft.key
    state: CurrentState | None = None
    row: StateRow | None = None
    followup: Entry | None = None
    if state_topic is not None and draft.subject is not None and not stale:
        state = advance(
            current,
            subject=draft.subject,
            project=draft.project,
            status=draft.status,
            status_time=draft.status_time,
            event_id=event.event_id,
            event_type=event.event_type,
            channel=draft.channel,
            updated_at=format_received_at(now),
        )
        value = state.to_json()
        row = StateRow(draft.subject, state.status_time, value)
        followup = Entry(
            f"state:{event.event_id}", state_topic, Record(draft.subject.encode("utf-8"), value)
        )
    entries.insert(index, Entry(event.event_id, topic, event.record, after, origin, followup))
    side = SideWrite(primary=index, keys=new_keys, state=row, erase=erase)
    return Plan(event, tuple(entries), index, side, stale, state)
