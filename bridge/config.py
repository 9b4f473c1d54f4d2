"""
Settings: one frozen object built once at startup from the environment
(plus an optional TOML file) and passed explicitly. Nothing else in the
bridge reads `os.environ`.

Every secret setting `BRIDGE_X` may instead be given as `BRIDGE_X_FILE`,
a path whose content (stripped) is the value (Kubernetes secrets).
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar, get_args

from bridge.errors import ConfigError

__all__ = [
    "HttpSettings",
    "KafkaSettings",
    "ProjectSettings",
    "Secret",
    "SecurityProtocol",
    "Settings",
    "SpoolSettings",
    "load_settings",
]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

DEFAULT_PROJECT = "default"

_T = TypeVar("_T", bound=str)


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
    allowed_cidrs: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()


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
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()


@dataclass(frozen=True, slots=True)
class SpoolSettings:
    """The durable on-disk spool."""

    directory: Path = Path("var/spool")
    max_bytes: int = 1024 * 1024 * 1024
    max_events: int = 1_000_000


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
    dedup_window_s: float = 24 * 3600.0
    dedup_max_entries: int = 200_000
    shutdown_grace_s: float = 20.0

    def topic_for(self, project: ProjectSettings) -> str:
        """Return the topic that the project's events go to."""
        return project.topic or self.topic


# --------------------------------------------------------------------------- parsing


class _Env:
    """Typed reads from an environment mapping; every error names the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def raw(self, name: str, *, secret: bool = False) -> str | None:
        if secret and (path := self._env.get(f"{name}_FILE")):
            try:
                return Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
        value = self._env.get(name)
        return value if value not in (None, "") else None

    def text(self, name: str, default: str) -> str:
        return self.raw(name) or default

    def integer(self, name: str, default: int, *, minimum: int = 0) -> int:
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            value = int(raw.replace("_", ""))
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
        return value

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.raw(name)
        if raw is None:
            return default
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{name}: expected true or false, got {raw!r}")

    def items(self, name: str, *, secret: bool = False) -> tuple[str, ...]:
        raw = self.raw(name, secret=secret)
        return tuple(p.strip() for p in (raw or "").replace("\n", ",").split(",") if p.strip())

    def path(self, name: str) -> Path | None:
        raw = self.raw(name)
        return Path(raw) if raw else None


def _choice(name: str, value: str, allowed: tuple[_T, ...]) -> _T:
    for option in allowed:
        if value.upper() == option:
            return option
    raise ConfigError(f"{name}: expected one of {', '.join(allowed)}, got {value!r}")


def _networks(
    name: str, values: tuple[str, ...] | list[str]
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(v, strict=False) for v in values)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _project_from_toml(name: str, table: object, where: str) -> ProjectSettings:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    allowed = {"tokens", "api_keys", "topic", "allow_plaintext", "allowed_cidrs"}
    if unknown := sorted(set(table) - allowed):
        raise ConfigError(f"{where}: unknown keys {unknown}")

    def strings(key: str) -> list[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}.{key}: expected a list of strings")
        return value

    topic = table.get("topic")
    if topic is not None and not isinstance(topic, str):
        raise ConfigError(f"{where}.topic: expected a string")
    plaintext = table.get("allow_plaintext", True)
    if not isinstance(plaintext, bool):
        raise ConfigError(f"{where}.allow_plaintext: expected true or false")
    return ProjectSettings(
        name=name,
        tokens=tuple(Secret(t) for t in strings("tokens")),
        api_keys=tuple(Secret(k) for k in strings("api_keys")),
        topic=topic,
        allow_plaintext=plaintext,
        allowed_cidrs=_networks(f"{where}.allowed_cidrs", strings("allowed_cidrs")),
    )


def _load_projects(env: _Env, dev_token: str | None) -> tuple[ProjectSettings, ...]:
    projects: list[ProjectSettings] = []
    if path := env.path("BRIDGE_CONFIG_FILE"):
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"BRIDGE_CONFIG_FILE: cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"BRIDGE_CONFIG_FILE: {path} is not valid TOML: {exc}") from None
        tables = doc.get("projects", {})
        if not isinstance(tables, dict):
            raise ConfigError("BRIDGE_CONFIG_FILE: [projects] must be a table of tables")
        for name, table in tables.items():
            projects.append(_project_from_toml(name, table, f"projects.{name}"))

    tokens = env.items("BRIDGE_AUTH_TOKENS", secret=True)
    if not tokens and dev_token and not projects:
        tokens = (dev_token,)
    if tokens or not projects:
        default_name = env.text("BRIDGE_PROJECT", DEFAULT_PROJECT)
        projects.insert(
            0,
            ProjectSettings(
                name=default_name,
                tokens=tuple(Secret(t) for t in tokens),
                api_keys=tuple(Secret(k) for k in env.items("BRIDGE_ARGOS_API_KEYS", secret=True)),
                topic=env.raw("BRIDGE_PROJECT_TOPIC"),
                allow_plaintext=env.flag("BRIDGE_ALLOW_PLAINTEXT", True),
                allowed_cidrs=_networks("BRIDGE_ALLOWED_CIDRS", env.items("BRIDGE_ALLOWED_CIDRS")),
            ),
        )

    names = [p.name for p in projects]
    if len(set(names)) != len(names):
        raise ConfigError(f"projects: duplicate project names in {names}")
    seen: set[str] = set()
    for project in projects:
        if not project.tokens:
            raise ConfigError(
                f"BRIDGE_AUTH_TOKENS: project {project.name!r} has no tokens; set "
                "BRIDGE_AUTH_TOKENS (comma-separated) or run `kyc-bridge serve --dev` "
                "for an insecure local token"
            )
        for token in project.tokens:
            if len(token.value) < 16:
                raise ConfigError(
                    f"BRIDGE_AUTH_TOKENS: a token of project {project.name!r} is shorter "
                    "than 16 characters"
                )
            if token.value in seen:
                raise ConfigError("BRIDGE_AUTH_TOKENS: the same token is used by two projects")
            seen.add(token.value)
    return tuple(projects)


def _load_kafka(env: _Env) -> KafkaSettings:
    protocol = _choice(
        "BRIDGE_KAFKA_SECURITY_PROTOCOL",
        env.text("BRIDGE_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
        get_args(SecurityProtocol),
    )
    mechanism_raw = env.raw("BRIDGE_KAFKA_SASL_MECHANISM")
    mechanism = (
        _choice("BRIDGE_KAFKA_SASL_MECHANISM", mechanism_raw, get_args(SaslMechanism))
        if mechanism_raw
        else None
    )
    password = env.raw("BRIDGE_KAFKA_SASL_PASSWORD", secret=True)
    key_password = env.raw("BRIDGE_KAFKA_SSL_KEY_PASSWORD", secret=True)
    settings = KafkaSettings(
        bootstrap_servers=env.text("BRIDGE_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        security_protocol=protocol,
        sasl_mechanism=mechanism,
        sasl_username=env.raw("BRIDGE_KAFKA_SASL_USERNAME"),
        sasl_password=Secret(password) if password else None,
        ssl_cafile=env.path("BRIDGE_KAFKA_SSL_CAFILE"),
        ssl_certfile=env.path("BRIDGE_KAFKA_SSL_CERTFILE"),
        ssl_keyfile=env.path("BRIDGE_KAFKA_SSL_KEYFILE"),
        ssl_key_password=Secret(key_password) if key_password else None,
        ssl_check_hostname=env.flag("BRIDGE_KAFKA_SSL_CHECK_HOSTNAME", True),
        client_id=env.text("BRIDGE_KAFKA_CLIENT_ID", "kyc-bridge"),
        linger_ms=env.integer("BRIDGE_KAFKA_LINGER_MS", 2),
        request_timeout_ms=env.integer("BRIDGE_KAFKA_REQUEST_TIMEOUT_MS", 30_000, minimum=1000),
        max_record_bytes=env.integer("BRIDGE_KAFKA_MAX_RECORD_BYTES", 1_000_000, minimum=1024),
    )
    if protocol.startswith("SASL"):
        if not (mechanism and settings.sasl_username and settings.sasl_password):
            raise ConfigError(
                f"BRIDGE_KAFKA_SASL_MECHANISM: security protocol {protocol} needs "
                "BRIDGE_KAFKA_SASL_MECHANISM, BRIDGE_KAFKA_SASL_USERNAME and "
                "BRIDGE_KAFKA_SASL_PASSWORD"
            )
    elif mechanism:
        raise ConfigError(
            f"BRIDGE_KAFKA_SASL_MECHANISM: set, but BRIDGE_KAFKA_SECURITY_PROTOCOL is {protocol}"
        )
    if bool(settings.ssl_certfile) != bool(settings.ssl_keyfile):
        raise ConfigError(
            "BRIDGE_KAFKA_SSL_CERTFILE: a client certificate needs BRIDGE_KAFKA_SSL_KEYFILE too"
        )
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        path = getattr(settings, name)
        if path is not None and not path.is_file():
            raise ConfigError(f"BRIDGE_KAFKA_{name.upper()}: {path} is not a readable file")
    return settings


def _load_http(env: _Env) -> HttpSettings:
    settings = HttpSettings(
        host=env.text("BRIDGE_HTTP_HOST", "0.0.0.0"),  # noqa: S104
        port=env.integer("BRIDGE_HTTP_PORT", 8080),
        tls_certfile=env.path("BRIDGE_HTTP_TLS_CERTFILE"),
        tls_keyfile=env.path("BRIDGE_HTTP_TLS_KEYFILE"),
        max_body_bytes=env.integer("BRIDGE_HTTP_MAX_BODY_BYTES", 256 * 1024, minimum=1024),
        read_timeout_s=env.number("BRIDGE_HTTP_READ_TIMEOUT_S", 10.0, minimum=0.1),
        max_concurrency=env.integer("BRIDGE_HTTP_MAX_CONCURRENCY", 512, minimum=1),
        trusted_proxies=_networks("BRIDGE_TRUSTED_PROXIES", env.items("BRIDGE_TRUSTED_PROXIES")),
    )
    if settings.port > 65535:
        raise ConfigError(f"BRIDGE_HTTP_PORT: {settings.port} is not a TCP port")
    if bool(settings.tls_certfile) != bool(settings.tls_keyfile):
        raise ConfigError("BRIDGE_HTTP_TLS_CERTFILE: TLS needs both a certificate and a key file")
    return settings


def load_settings(env: Mapping[str, str], *, dev_token: str | None = None) -> Settings:
    """
    Build and validate the settings from an environment mapping.

    `dev_token` is used as the default project's token when no token is
    configured at all (the explicit insecure `serve --dev` switch).

    Raises:
        ConfigError: naming the setting and what is wrong with it.
    """
    e = _Env(env)
    settings = Settings(
        projects=_load_projects(e, dev_token),
        kafka=_load_kafka(e),
        http=_load_http(e),
        spool=SpoolSettings(
            directory=e.path("BRIDGE_SPOOL_DIR") or Path("var/spool"),
            max_bytes=e.integer("BRIDGE_SPOOL_MAX_BYTES", 1024**3, minimum=64 * 1024),
            max_events=e.integer("BRIDGE_SPOOL_MAX_EVENTS", 1_000_000, minimum=1),
        ),
        topic=e.text("BRIDGE_TOPIC", "kyc.events.v1"),
        dlq_topic=e.text("BRIDGE_DLQ_TOPIC", "kyc.events.dlq.v1"),
        log_level=_choice(
            "BRIDGE_LOG_LEVEL", e.text("BRIDGE_LOG_LEVEL", "INFO"), get_args(LogLevel)
        ),
        publish_deadline_s=e.integer("BRIDGE_PUBLISH_DEADLINE_MS", 2000, minimum=1) / 1000,
        dedup_window_s=e.number("BRIDGE_DEDUP_WINDOW_S", 24 * 3600.0),
        dedup_max_entries=e.integer("BRIDGE_DEDUP_MAX_ENTRIES", 200_000),
        shutdown_grace_s=e.number("BRIDGE_SHUTDOWN_GRACE_S", 20.0, minimum=0.0),
    )
    if settings.topic == settings.dlq_topic:
        raise ConfigError("BRIDGE_DLQ_TOPIC: must differ from BRIDGE_TOPIC")
    return settings
