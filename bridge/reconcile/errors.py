"""
Errors of the ARGOS API client, under the bridge's one tree (`bridge.errors`).

    BridgeError
    └── ArgosApiError                  anything that ends one API request badly
        ├── ArgosUnavailableError      (also a TransientError) 429, 5xx, 408, timeout,
        │                              connection error: retried with backoff
        ├── ArgosRefusedError          (also a PermanentError) any other 4xx, e.g. 403 for
        │                              a wrong API key: never retried
        └── ArgosResponseError         (also a PermanentError) a 2xx body we do not understand
    UnmappableItemError                (a PermanentError) one `Items[]` element we cannot map

Messages and attributes carry status codes, reasons and field *names* only: never the API
key, a URL's query, a response value or personal data.
"""

from __future__ import annotations

from typing import Literal

from bridge.errors import BridgeError, PermanentError, TransientError

__all__ = [
    "ArgosApiError",
    "ArgosRefusedError",
    "ArgosResponseError",
    "ArgosUnavailableError",
    "ResponseProblem",
    "UnavailableReason",
    "UnmappableItemError",
    "UnmappableReason",
]

UnavailableReason = Literal["rate_limited", "server_error", "timeout", "connection"]
ResponseProblem = Literal["not_json", "not_object", "undecryptable", "no_items", "too_large"]
UnmappableReason = Literal["not_object", "no_submission_id", "unknown_result", "no_status_time"]


class ArgosApiError(BridgeError):
    """A request to the ARGOS API did not give a usable page."""

    code = "argos_api_error"


class ArgosUnavailableError(ArgosApiError, TransientError):
    """The API is rate limiting, failing or unreachable; raised per attempt, then retried."""

    code = "argos_api_unavailable"

    def __init__(
        self,
        reason: UnavailableReason,
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
        cause: str | None = None,
    ) -> None:
        detail = f" (HTTP {http_status})" if http_status is not None else ""
        detail += f" ({cause})" if cause else ""
        super().__init__(f"ARGOS API unavailable: {reason}{detail}")
        self.reason: UnavailableReason = reason
        self.http_status = http_status
        #: seconds the API asked us to wait (`Retry-After`), if it said
        self.retry_after = retry_after


class ArgosRefusedError(ArgosApiError, PermanentError):
    """The API refused the request (4xx other than 408 and 429); retrying cannot help."""

    code = "argos_api_refused"

    def __init__(self, http_status: int, *, error_code: str | None = None) -> None:
        detail = f", errorCode {error_code}" if error_code else ""
        super().__init__(f"ARGOS API refused the request: HTTP {http_status}{detail}")
        self.http_status = http_status
        #: ARGOS's `errorCode` when it is a plain identifier (e.g. `invalid_api_key`)
        self.error_code = error_code


class ArgosResponseError(ArgosApiError, PermanentError):
    """A 2xx response whose body is not a page we recognise."""

    code = "argos_api_unrecognised_response"

    def __init__(self, problem: ResponseProblem, *, keys: tuple[str, ...] = ()) -> None:
        shown = f" (top-level keys: {', '.join(keys)})" if keys else ""
        super().__init__(f"unrecognised ARGOS API response: {problem}{shown}")
        self.problem: ResponseProblem = problem
        #: the body's top-level key names (identifier-like names only, at most 20)
        self.keys = keys


class UnmappableItemError(PermanentError):
    """One `Items[]` element cannot become an event (the message says why, not what)."""

    code = "argos_item_unmappable"

    def __init__(self, reason: UnmappableReason) -> None:
        super().__init__(f"ARGOS API item cannot be mapped: {reason}")
        self.reason: UnmappableReason = reason
