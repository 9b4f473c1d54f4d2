"""
Scripted faults of the fake ARGOS API: error statuses, `Retry-After`, slow replies, drops.

ARGOS documents no rate limits and no error bodies for `GET /v3/submission`; these faults let a
test play what a real API and its gateway do: 429 with `Retry-After`, 5xx, a reply slower than
the client's timeout, a connection closed without a reply. "API down" is `FakeArgos.outage()`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

import orjson

__all__ = ["DropConnection", "ErrorReply", "Fault", "FaultScript", "SlowReply", "error_body"]


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """Answer `status` with an error body (or `body` verbatim) and an optional `Retry-After`."""

    status: int
    retry_after: float | datetime | None = None  # seconds ("0.2" is non-standard) or a date
    body: bytes | None = None

    def headers(self) -> dict[str, str]:
        """Return the response headers: `Retry-After` as seconds or as an HTTP date."""
        if self.retry_after is None:
            return {}
        if isinstance(self.retry_after, datetime):
            return {"Retry-After": format_datetime(self.retry_after, usegmt=True)}
        return {"Retry-After": f"{self.retry_after:g}"}

    def payload(self) -> bytes:
        """Return the body: `body`, else `{"errorCode", "errorMessage"}` for the status."""
        if self.body is not None:
            return self.body
        code = _ERROR_CODES.get(self.status, "internal_server_error")
        return error_body(code, f"Scripted {self.status}")


@dataclass(frozen=True, slots=True)
class SlowReply:
    """Wait `delay_s` (beyond a client's timeout), then answer `then`, or normally if None."""

    delay_s: float
    then: ErrorReply | None = None


@dataclass(frozen=True, slots=True)
class DropConnection:
    """Close the connection without sending any response."""


Fault = ErrorReply | SlowReply | DropConnection

_ERROR_CODES = {
    429: "too_many_requests",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def error_body(code: str, message: str) -> bytes:
    """Return an ARGOS-style error body `{"errorCode": code, "errorMessage": message}`."""
    return orjson.dumps({"errorCode": code, "errorMessage": message})


class FaultScript:
    """
    Which fault, if any, answers each request.

    A fault set for a request number wins over the queue of `fail_next`, which wins over the
    time windows of `fail_during`. Numbers are 1-based over the fake's whole life.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Create an empty script; `clock` (monotonic seconds) places `fail_during` windows."""
        self._clock = clock
        self._by_number: dict[int, Fault] = {}
        self._queued: deque[Fault] = deque()
        self._windows: list[tuple[float, float, Fault]] = []

    def fail_request(self, number: int, fault: Fault) -> None:
        """Answer request `number` (see `LoggedRequest.number`) with `fault`."""
        self._by_number[number] = fault

    def fail_next(self, *faults: Fault) -> None:
        """Answer the next requests with `faults`, one each, in order."""
        self._queued.extend(faults)

    def fail_during(self, seconds: float, fault: Fault, *, starting_in: float = 0.0) -> None:
        """Answer every request arriving in [now + starting_in, that + seconds) with `fault`."""
        begin = self._clock() + starting_in
        self._windows.append((begin, begin + seconds, fault))

    def clear(self) -> None:
        """Forget every scripted fault."""
        self._by_number.clear()
        self._queued.clear()
        self._windows.clear()

    def take(self, number: int, now: float) -> Fault | None:
        """Return (and use up, unless windowed) the fault for request `number` at `now`."""
        if number in self._by_number:
            return self._by_number.pop(number)
        if self._queued:
            return self._queued.popleft()
        return next((f for begin, end, f in self._windows if begin <= now < end), None)
