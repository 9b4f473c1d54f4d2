"""The current state of a submission and the staleness rule (pure)."""

from __future__ import annotations

import orjson
import pytest

from bridge.schemas import load_registry
from bridge.state import CurrentState, advance, is_stale, order_key

T1 = "2025-03-14T09:21:07.412Z"
T2 = "2025-03-20T11:02:48.950Z"


def _state(status: str | None, status_time: str | None) -> CurrentState:
    return CurrentState(
        subject="s",
        project="p",
        status=status,
        status_time=order_key(status_time) if status_time else None,
        event_id="4a31bb93-d99f-80b4-b8c6-7002c5840c95",
        event_type="kyc.approved",
        channel="webhook",
        updated_at=T1,
    )


@pytest.mark.parametrize(
    ("status_time", "current", "stale"),
    [
        (T1, None, False),  # nothing known yet
        (None, _state("approved", T2), False),  # triggers without a status time never are
        (T1, _state("rejected", T2), True),  # an older result after a newer one: reordered
        (T2, _state("rejected", T2), True),  # the same time again: a repeat
        (T2, _state("approved", T1), False),  # newer
        (T1, _state("incomplete", None), False),  # the state has no time yet
        ("2025-03-20T11:02:48.950001Z", _state("rejected", T2), False),  # µs precision
    ],
)
def test_staleness_compares_argos_status_times(
    status_time: str | None, current: CurrentState | None, stale: bool
) -> None:
    """An event is stale when its status time is not newer than the current state's."""
    assert stale == is_stale(status_time, current)


def test_order_key_makes_text_order_time_order() -> None:
    """Millisecond and microsecond timestamps compare correctly as text."""
    assert order_key("2025-03-20T11:02:48.950Z") == order_key("2025-03-20T11:02:48.950000Z")
    assert order_key("2025-03-20T11:02:48.950Z") < order_key("2025-03-20T11:02:48.950001Z")
    assert "2025-03-20T09:02:48.950000Z" == order_key("2025-03-20T11:02:48.950+02:00")
    assert order_key("0999-12-31T23:59:59Z") < order_key("2025-03-20T11:02:48Z")


def _advance(current: CurrentState | None, status: str | None, time: str | None) -> CurrentState:
    return advance(
        current,
        subject="s",
        project="p",
        status=status,
        status_time=time,
        event_id="e1",
        event_type="kyc.x",
        channel="reconcile",
        updated_at=T2,
    )


def test_a_timed_result_sets_status_and_time() -> None:
    """A result with a status time replaces status and time, and names the last event."""
    state = _advance(_state("approved", T1), "rejected", T2)
    assert ("rejected", order_key(T2), "e1", "reconcile") == (
        state.status,
        state.status_time,
        state.event_id,
        state.channel,
    )


def test_an_event_without_a_time_keeps_the_status() -> None:
    """An aml event after approval keeps status and time; only the last event changes."""
    state = _advance(_state("approved", T1), None, None)
    assert ("approved", order_key(T1), "kyc.x") == (
        state.status,
        state.status_time,
        state.event_type,
    )


def test_the_first_event_without_a_time_sets_the_status() -> None:
    """A `created` (incomplete, no time) is the first known status of a submission."""
    state = _advance(None, "incomplete", None)
    assert ("incomplete", None) == (state.status, state.status_time)


def test_state_values_round_trip_and_reject_other_documents() -> None:
    """The state topic's value parses back; anything else is refused."""
    state = _state("approved", T1)
    assert state == CurrentState.from_json(state.to_json())
    with pytest.raises(ValueError, match=r"kyc\.state\.v1"):
        CurrentState.from_json(b'{"schema": "other"}')


def test_state_values_match_their_schema() -> None:
    """What the bridge writes to the state topic validates against kyc.state.v1."""
    registry = load_registry()
    for state in (_state("approved", T1), _state(None, None)):
        registry.validate("kyc.state.v1", orjson.loads(state.to_json()))
