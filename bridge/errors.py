"""
The one error tree of the bridge.

    BridgeError
    ├── PermanentError              never retried: 4xx to the sender, or dead-lettered
    │   ├── AuthenticationError     401 bad or missing token
    │   │   └── ForbiddenError      401 too (logged as `forbidden`): source address not allowed
    │   ├── RequestTimeoutError     408 the body did not arrive in time
    │   ├── PayloadTooLargeError    413 body above the configured cap
    │   ├── HeadersTooLargeError    431 request head above the header count or size cap
    │   └── InvalidPayloadError     400, dead-lettered when authenticated
    │       ├── DecryptionError     encrypted body that no configured key opens
    │       ├── NotJsonError        body (or decrypted body) is not a JSON object
    │       ├── PayloadTooDeepError  JSON nested deeper than the decoder accepts
    │       ├── PlaintextRefusedError  plain body on a project that requires encryption
    │       ├── SchemaValidationError  normalized event fails its JSON Schema
    │       └── EventTooLargeError  event would not fit in one Kafka record
    ├── TransientError              retry later: 503 with Retry-After, or spool
    │   ├── PublishError            Kafka did not acknowledge (translated at one seam)
    │   ├── SpoolFullError          the spool reached its byte or event cap
    │   ├── SpoolUnavailableError   the spool cannot be written (disk, I/O)
    │   ├── OverloadedError         too many concurrent requests
    │   ├── TooManyConnectionsError  too many open connections (answered before any request)
    │   └── ShuttingDownError       SIGTERM received, no new work accepted
    └── ConfigError                 bad setting at startup (exit code 2)

Every error carries a stable `code` (snake_case) that reaches clients in JSON
bodies and DLQ records, and the canonical log line. `public` is what a client is
told: the code and message, except where telling would help an attacker (a
`ForbiddenError` answers exactly like an unknown token). Messages never contain
payload data or secrets.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BridgeError",
    "ConfigError",
    "DecryptionError",
    "EventTooLargeError",
    "ExpectationFailedError",
    "ForbiddenError",
    "HeadersTooLargeError",
    "InvalidPayloadError",
    "NotJsonError",
    "OverloadedError",
    "PayloadTooDeepError",
    "PayloadTooLargeError",
    "PermanentError",
    "PlaintextRefusedError",
    "PublishError",
    "RequestTimeoutError",
    "SchemaValidationError",
    "ShuttingDownError",
    "SpoolFullError",
    "SpoolUnavailableError",
    "TooManyConnectionsError",
    "TransientError",
]


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""

    code: str = "internal_error"
    status: int = 500

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)

    @property
    def message(self) -> str:
        """The safe, human-readable message (no payload data, no secrets)."""
        return str(self.args[0])

    @property
    def public(self) -> tuple[str, str]:
        """Return the code and message a client is told (by default: `code`, `message`)."""
        return self.code, self.message


class PermanentError(BridgeError):
    """Retrying the same request cannot succeed."""

    status = 400
    code = "bad_request"


class AuthenticationError(PermanentError):
    """Missing or unknown webhook token."""

    status = 401
    code = "unauthorized"

    @property
    def public(self) -> tuple[str, str]:
        """Return one answer for every authentication failure: a caller learns nothing more."""
        return AuthenticationError.code, "missing or invalid webhook token"


class ForbiddenError(AuthenticationError):
    """
    The source address is not in the project's allowlist.

    Answered exactly like an unknown token (401 `unauthorized`): a 403 would
    confirm to an outsider that a leaked token is valid. Only the log says
    `forbidden`.
    """

    code = "forbidden"


class RequestTimeoutError(PermanentError):
    """The client sent the request body too slowly."""

    status = 408
    code = "request_timeout"


class PayloadTooLargeError(PermanentError):
    """The request body exceeds the configured maximum size."""

    status = 413
    code = "payload_too_large"


class ExpectationFailedError(PermanentError):
    """The request's `Expect` header asks for something other than `100-continue`."""

    status = 417
    code = "expectation_failed"


class HeadersTooLargeError(PermanentError):
    """The request head has too many header lines or too many bytes."""

    status = 431
    code = "headers_too_large"


class InvalidPayloadError(PermanentError):
    """Authenticated body that cannot become a valid event; it is dead-lettered."""

    status = 400
    code = "invalid_payload"


class DecryptionError(InvalidPayloadError):
    """No configured API key decrypts the body."""

    code = "decryption_failed"


class NotJsonError(InvalidPayloadError):
    """The body (after decryption) is not a JSON object."""

    code = "invalid_json"


class PayloadTooDeepError(InvalidPayloadError):
    """The body (after decryption) is JSON nested deeper than the decoder accepts."""

    code = "payload_too_deep"


class PlaintextRefusedError(InvalidPayloadError):
    """The project accepts encrypted bodies only."""

    code = "plaintext_not_allowed"


class SchemaValidationError(InvalidPayloadError):
    """The normalized event does not match its JSON Schema."""

    code = "schema_validation_failed"


class EventTooLargeError(InvalidPayloadError):
    """The event does not fit into one Kafka record."""

    code = "event_too_large"


class TransientError(BridgeError):
    """The request may succeed later; the client should retry."""

    status = 503
    code = "unavailable"
    retry_after_s: int = 5


class PublishError(TransientError):
    """Kafka did not acknowledge the record."""

    code = "kafka_unavailable"

    def __init__(
        self, message: str | None = None, *, fatal: bool = False, unreachable: bool = False
    ) -> None:
        super().__init__(message)
        #: the producer instance is unusable (e.g. idempotence sequence broken)
        self.fatal = fatal
        #: the cluster could not be reached (not a topic-level refusal)
        self.unreachable = unreachable


class SpoolFullError(TransientError):
    """The durable spool reached its configured cap."""

    code = "spool_full"
    retry_after_s = 30


class SpoolUnavailableError(TransientError):
    """The durable spool could not be written."""

    code = "spool_unavailable"
    retry_after_s = 30


class OverloadedError(TransientError):
    """Too many requests are in flight."""

    code = "overloaded"
    retry_after_s = 1


class TooManyConnectionsError(TransientError):
    """Too many connections are open; this one is answered and closed at once."""

    code = "too_many_connections"
    retry_after_s = 1


class ShuttingDownError(TransientError):
    """The bridge is shutting down and accepts no new webhooks."""

    code = "shutting_down"
    retry_after_s = 5


class ConfigError(BridgeError):
    """A setting is missing or invalid; the message names it (one line per problem)."""

    code = "config_error"

    def __init__(self, message: str | None = None, *, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        #: every problem found, each naming its setting
        self.problems = problems or (self.message,)
