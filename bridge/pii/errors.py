"""
The errors of the personal-data core.

    BridgeError
    └── PiiError                    a sealed value or a key could not be used
        ├── KeyUnavailableError     no key has that kid: never seen, or erased
        ├── EventMismatchError      the token is bound to another event id
        ├── TamperedError           not a well-formed token, or authentication failed
        ├── KeyRecordError          a keys-topic record is malformed
        ├── KekConfigError          the KEK file or settings are unusable (also ConfigError)
        └── KekUnavailableError     the KMS did not answer; retry (also TransientError)

Messages name kids, files and reasons; never key material or plaintext.
"""

from __future__ import annotations

from bridge.errors import BridgeError, ConfigError, TransientError

__all__ = [
    "EventMismatchError",
    "KekConfigError",
    "KekUnavailableError",
    "KeyRecordError",
    "KeyUnavailableError",
    "PiiError",
    "TamperedError",
]


class PiiError(BridgeError):
    """A sealed value or a key of the personal-data core could not be used."""

    code = "pii_error"


class KeyUnavailableError(PiiError):
    """No key with that kid is known: it was never seen, or it was erased."""

    code = "pii_key_unavailable"

    def __init__(self, kid: str, message: str | None = None) -> None:
        super().__init__(message or f"no key with kid {kid!r} is available")
        #: the kid that was looked up (a random id or a KMS key id, never key material)
        self.kid = kid


class EventMismatchError(PiiError):
    """The token's `kyc_event_id` is not the event id of the record that carries it."""

    code = "pii_event_mismatch"


class TamperedError(PiiError):
    """The value is not a well-formed token of ours, or its authentication tag does not match."""

    code = "pii_tampered"


class KeyRecordError(PiiError):
    """A record of the keys topic does not have the documented key or value."""

    code = "pii_key_record_invalid"


class KekConfigError(PiiError, ConfigError):
    """The key-encryption key file or settings cannot be used; the message says why."""

    code = "pii_kek_config"

    @property
    def public(self) -> tuple[str, str]:
        """Tell a client only that the KEK is unusable: the message names keys and accounts."""
        return self.code, "the bridge cannot use its key-encryption key (its log says why)"


class KekUnavailableError(PiiError, TransientError):
    """The key-encryption service did not answer or throttled; retry later."""

    code = "pii_kek_unavailable"
