"""
The settings values: frozen dataclasses whose field defaults are the one place
each default is written (the environment loader reads them from here).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_PROJECT",
    "MAX_PAGE_SIZE",
    "HttpSettings",
    "KafkaSettings",
    "LogLevel",
    "Network",
    "PiiMode",
    "PiiSettings",
    "ProjectSettings",
    "ReconcileSettings",
    "RetryPolicy",
    "SaslMechanism",
    "Secret",
    "SecurityProtocol",
    "Settings",
    "SpoolSettings",
    "encrypt_responses_default",
]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
PiiMode = Literal["clear", "encrypt", "redact"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PROJECT = "default"
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret string that never shows itself in repr, str or logs."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


DEFAULT_API_URL = "https://rest-api.argosidentity.com"
MAX_PAGE_SIZE = 2000  # the legacy ARGOS guide's documented maximum for `count`


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """
    Backoff for one API request (stamina): exponential with jitter, bounded in tries and time.

    The n-th wait is `min(wait_max_s, wait_initial_s * 2 ** (n - 1) + U(0, wait_jitter_s))`,
    unless the API sent `Retry-After`: then exactly that, and no retry at all when it asks
    for more than `max_retry_after_s` (the day is counted as an error; the next run retries).

        RetryPolicy(attempts=3, wait_initial_s=0.01, wait_jitter_s=0.0)  # tests
    """

    attempts: int = 6
    timeout_s: float = 120.0  # no new attempt once this long has passed since the first
    wait_initial_s: float = 0.5
    wait_max_s: float = 30.0
    wait_jitter_s: float = 1.0
    max_retry_after_s: float = 120.0

    def problems(self) -> list[str]:
        """Return a message for every invalid value (empty when valid)."""
        found = [] if self.attempts >= 1 else ["retry attempts must be at least 1"]
        for name in ("timeout_s", "wait_initial_s", "wait_max_s", "max_retry_after_s"):
            if not getattr(self, name) > 0:
                found.append(f"retry {name} must be positive")
        if not self.wait_jitter_s >= 0:
            found.append("retry wait_jitter_s must not be negative")
        return found


@dataclass(frozen=True, slots=True)
class ReconcileSettings:
    """
    How and how often to reconcile against `GET {api_url}/v3/submission`.

    `interval_s` 0 turns the periodic reconciler off (the CLI backfill still works).
    `lookback_days` N walks the N days before today and today (UTC): the API filters on the
    day a submission was *created*, so N must cover how long a result can take to arrive.
    """

    api_url: str = DEFAULT_API_URL
    interval_s: float = 0.0
    lookback_days: int = 2
    concurrency: int = 2  # requests in flight to the API, across days
    timeout_s: float = 30.0  # one request, connect to last byte
    page_size: int = 50  # `count` (ARGOS's default)
    max_body_bytes: int = 32 * 1024 * 1024
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def enabled(self) -> bool:
        """Return True when the periodic reconciler should run."""
        return self.interval_s > 0

    def window(self, today: date) -> tuple[date, date]:
        """Return the (since, until) days, inclusive, that a run on `today` walks."""
        return today - timedelta(days=self.lookback_days), today

    def problems(self) -> list[str]:
        """Return a message for every invalid value (empty when valid); never the URL's secrets."""
        found: list[str] = []
        parts = urlsplit(self.api_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            found.append("api_url must be an http(s) URL with a host")
        elif parts.username or parts.password or parts.query or parts.fragment:
            found.append("api_url must not carry credentials, a query or a fragment")
        if not self.interval_s >= 0:
            found.append("interval_s must be 0 (off) or positive")
        if self.lookback_days < 0:
            found.append("lookback_days must not be negative")
        if self.concurrency < 1:
            found.append("concurrency must be at least 1")
        if not self.timeout_s > 0:
            found.append("timeout_s must be positive")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            found.append(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if self.max_body_bytes < 1024:
            found.append("max_body_bytes must be at least 1024")
        return found + self.retry.problems()


@dataclass(frozen=True, slots=True)
class ProjectSettings:
    """One ARGOS project: who may post, how to decrypt, where to publish."""

    name: str
    tokens: tuple[Secret, ...]
    api_keys: tuple[Secret, ...] = ()
    topic: str | None = None
    allow_plaintext: bool = True
    allowed_cidrs: tuple[Network, ...] = ()
    #: personal-data protection of this project's records (None: BRIDGE_PII_PROTECTION)
    pii_protection: PiiMode | None = None
    #: the ARGOS REST API the reconciler asks (with the project's API key)
    api_url: str = DEFAULT_API_URL
    #: answer encrypted requests encrypted (ARGOS's "bidirectional" mode); the loader
    #: defaults it to `encrypt_responses_default(allow_plaintext)`
    encrypt_responses: bool = False


def encrypt_responses_default(allow_plaintext: bool) -> bool:
    """
    Return whether a project answers encrypted requests encrypted, unless configured.

    On exactly for projects that accept encrypted bodies only: those are set up for
    ARGOS's encryption option, whose guide asks for encrypted output too.
    """
    return not allow_plaintext


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """Kafka client settings (producer is always acks=all and idempotent)."""

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: Secret | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: Secret | None = None
    ssl_check_hostname: bool = True
    client_id: str = "kyc-bridge"
    linger_ms: int = 2
    request_timeout_ms: int = 30_000
    max_record_bytes: int = 1_000_000


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Inbound HTTP listener settings."""

    host: str = "0.0.0.0"  # noqa: S104  (a sidecar listens on the pod network)
    port: int = 8080
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    max_body_bytes: int = 256 * 1024
    read_timeout_s: float = 10.0
    max_concurrency: int = 512
    #: header lines per request head; aiohttp answers more with 431
    max_headers: int = 64
    #: bytes per request head (request line + headers); a client that sends more is
    #: answered 431 and disconnected, so an unfinished head holds at most this much
    max_header_bytes: int = 16 * 1024
    #: open connections; more are answered 503 `too_many_connections` and closed
    max_connections: int = 1024
    trusted_proxies: tuple[Network, ...] = ()


@dataclass(frozen=True, slots=True)
class SpoolSettings:
    """The durable on-disk spool and the dedup window it keeps."""

    directory: Path = Path("var/spool")
    max_bytes: int = 1024 * MIB
    max_events: int = 1_000_000
    #: appends are refused while the volume has less free space than this
    min_free_bytes: int = 32 * MIB
    dedup_window_s: float = 24 * 3600.0
    dedup_max_entries: int = 200_000


@dataclass(frozen=True, slots=True)
class PiiSettings:
    """Personal-data protection: the default mode, the data keys' topic and their KEK."""

    mode: PiiMode = "clear"
    keys_topic: str = "kyc.pii-keys.v1"
    #: a JWK Set file of 256-bit oct keys (the first wraps new data keys)
    kek_file: Path | None = None
    #: or an AWS KMS key (id, ARN or alias) that wraps them without leaving KMS
    kms_key_id: str | None = None
    kms_region: str | None = None
    kms_endpoint_url: str | None = None
    #: erase a submission's data keys when ARGOS sends `delete` (protected projects)
    erase_on_delete: bool = True


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the bridge needs, validated."""

    projects: tuple[ProjectSettings, ...]
    kafka: KafkaSettings = KafkaSettings()
    http: HttpSettings = HttpSettings()
    spool: SpoolSettings = SpoolSettings()
    topic: str = "kyc.events.v1"
    dlq_topic: str = "kyc.events.dlq.v1"
    log_level: LogLevel = "INFO"
    publish_deadline_s: float = 2.0
    shutdown_grace_s: float = 20.0
    pii: PiiSettings = PiiSettings()
    state_topic: str = "kyc.state.v1"
    reconcile: ReconcileSettings = ReconcileSettings()

    def topic_for(self, project: ProjectSettings) -> str:
        """Return the topic that the project's events go to."""
        return project.topic or self.topic

    def pii_mode(self, project: ProjectSettings) -> PiiMode:
        """Return the personal-data protection of the project's records."""
        return project.pii_protection or self.pii.mode

    @property
    def protects(self) -> bool:
        """Whether any project encrypts or redacts personal data."""
        return any(self.pii_mode(p) != "clear" for p in self.projects)

    @property
    def encrypts(self) -> bool:
        """Whether any project encrypts personal data (a KEK is then required)."""
        return any(self.pii_mode(p) == "encrypt" for p in self.projects)

    def secrets(self) -> list[str]:
        """Every configured secret value (for the log redactor)."""
        found = [t.value for p in self.projects for t in (*p.tokens, *p.api_keys)]
        for secret in (self.kafka.sasl_password, self.kafka.ssl_key_password):
            if secret is not None:
                found.append(secret.value)
        return found
