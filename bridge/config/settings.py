"""
The settings values: frozen dataclasses whose field defaults are the one place
each default is written (the environment loader reads them from here).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = [
    "DEFAULT_PROJECT",
    "HttpSettings",
    "KafkaSettings",
    "LogLevel",
    "Network",
    "ProjectSettings",
    "SaslMechanism",
    "Secret",
    "SecurityProtocol",
    "Settings",
    "SpoolSettings",
    "encrypt_responses_default",
]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
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


@dataclass(frozen=True, slots=True)
class ProjectSettings:
    """One ARGOS project: who may post, how to decrypt, where to publish."""

    name: str
    tokens: tuple[Secret, ...]
    api_keys: tuple[Secret, ...] = ()
    topic: str | None = None
    allow_plaintext: bool = True
    allowed_cidrs: tuple[Network, ...] = ()
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

    def topic_for(self, project: ProjectSettings) -> str:
        """Return the topic that the project's events go to."""
        return project.topic or self.topic

    def secrets(self) -> list[str]:
        """Every configured secret value (for the log redactor)."""
        found = [t.value for p in self.projects for t in (*p.tokens, *p.api_keys)]
        for secret in (self.kafka.sasl_password, self.kafka.ssl_key_password):
            if secret is not None:
                found.append(secret.value)
        return found
