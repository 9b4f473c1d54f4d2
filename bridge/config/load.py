"""
Build the settings from the environment (and an optional TOML file of
projects). Every secret setting `BRIDGE_X` may instead be given as
`BRIDGE_X_FILE`, a path whose content (stripped) is the value.
"""

from __future__ import annotations

import ssl
import tomllib
from collections.abc import Mapping
from typing import get_args

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bridge.config.env import Env
from bridge.config.settings import (
    DEFAULT_API_URL,
    DEFAULT_PROJECT,
    HttpSettings,
    KafkaSettings,
    LogLevel,
    PiiMode,
    PiiSettings,
    ProjectSettings,
    ReconcileSettings,
    SaslMechanism,
    Secret,
    SecurityProtocol,
    Settings,
    SpoolSettings,
    encrypt_responses_default,
)
from bridge.errors import ConfigError

__all__ = ["load_settings", "read_secret"]

_KAFKA = KafkaSettings()
_HTTP = HttpSettings()
_SPOOL = SpoolSettings()
_PROJECT = ProjectSettings(DEFAULT_PROJECT, tokens=())
_DEFAULTS = Settings(projects=())
_PROJECT_KEYS = {
    "tokens",
    "api_keys",
    "topic",
    "allow_plaintext",
    "allowed_cidrs",
    "pii_protection",
    "api_url",
    "encrypt_responses",
}
_PII = PiiSettings()
_MIN_TOKEN = 16


def read_secret(env: Mapping[str, str], name: str) -> str | None:
    """
    Return the secret `name` (or the content of the file `name_FILE`), if set.

    Raises:
        ConfigError: `name_FILE` is set but cannot be read.
    """
    reader = Env(env)
    value = reader.raw(name, secret=True)
    if reader.errors:
        raise ConfigError("\n".join(reader.errors))
    return value


def _project_from_toml(env: Env, name: str, table: object) -> ProjectSettings | None:
    where = f"projects.{name}"
    if not isinstance(table, dict):
        env.error(f"BRIDGE_CONFIG_FILE: {where}: expected a table")
        return None
    if unknown := sorted(set(table) - _PROJECT_KEYS):
        env.error(f"BRIDGE_CONFIG_FILE: {where}: unknown keys {unknown}")

    def strings(key: str) -> list[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            env.error(f"BRIDGE_CONFIG_FILE: {where}.{key}: expected a list of strings")
            return []
        return value

    topic = table.get("topic")
    if topic is not None and not isinstance(topic, str):
        env.error(f"BRIDGE_CONFIG_FILE: {where}.topic: expected a string")
        topic = None
    plaintext = table.get("allow_plaintext", _PROJECT.allow_plaintext)
    if not isinstance(plaintext, bool):
        env.error(f"BRIDGE_CONFIG_FILE: {where}.allow_plaintext: expected true or false")
        plaintext = _PROJECT.allow_plaintext
    encrypt = table.get("encrypt_responses", encrypt_responses_default(plaintext))
    if not isinstance(encrypt, bool):
        env.error(f"BRIDGE_CONFIG_FILE: {where}.encrypt_responses: expected true or false")
        encrypt = encrypt_responses_default(plaintext)
    pii: PiiMode | None = None
    if "pii_protection" in table:
        raw = table["pii_protection"]
        modes = get_args(PiiMode)
        if raw in modes:
            pii = raw
        else:
            env.error(
                f"BRIDGE_CONFIG_FILE: {where}.pii_protection: expected one of "
                f"{', '.join(modes)}, got {raw!r}"
            )
    return ProjectSettings(
        name=name,
        tokens=tuple(Secret(t) for t in strings("tokens")),
        api_keys=tuple(Secret(k) for k in strings("api_keys")),
        topic=topic,
        allow_plaintext=plaintext,
        allowed_cidrs=env.networks(
            f"BRIDGE_CONFIG_FILE: {where}.allowed_cidrs", strings("allowed_cidrs")
        ),
        pii_protection=pii,
        api_url=_api_url(env, table.get("api_url"), f"BRIDGE_CONFIG_FILE: {where}.api_url"),
        encrypt_responses=encrypt,
    )


def _api_url(env: Env, value: object, name: str) -> str:
    if value is None:
        return DEFAULT_API_URL
    if not isinstance(value, str) or ReconcileSettings(api_url=value).problems():
        env.error(f"{name}: must be an http(s) URL with a host, no credentials or query")
        return DEFAULT_API_URL
    return value


def _toml_projects(env: Env) -> list[ProjectSettings]:
    path = env.path("BRIDGE_CONFIG_FILE")
    if path is None:
        return []
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        env.error(f"BRIDGE_CONFIG_FILE: cannot read {path}: {exc.strerror}")
        return []
    except tomllib.TOMLDecodeError as exc:
        env.error(f"BRIDGE_CONFIG_FILE: {path} is not valid TOML: {exc}")
        return []
    tables = doc.get("projects", {})
    if not isinstance(tables, dict):
        env.error("BRIDGE_CONFIG_FILE: [projects] must be a table of tables")
        return []
    found = [_project_from_toml(env, name, table) for name, table in tables.items()]
    return [p for p in found if p is not None]


def _projects(
    env: Env, dev_token: str | None, *, require_tokens: bool
) -> tuple[ProjectSettings, ...]:
    projects = _toml_projects(env)
    tokens = env.items("BRIDGE_AUTH_TOKENS", secret=True)
    if not tokens and dev_token and not projects:
        tokens = (dev_token,)
    if tokens or not projects:
        plaintext = env.flag("BRIDGE_ALLOW_PLAINTEXT", _PROJECT.allow_plaintext)
        projects.insert(
            0,
            ProjectSettings(
                name=env.text("BRIDGE_PROJECT", DEFAULT_PROJECT),
                tokens=tuple(Secret(t) for t in tokens),
                api_keys=tuple(Secret(k) for k in env.items("BRIDGE_ARGOS_API_KEYS", secret=True)),
                topic=env.raw("BRIDGE_PROJECT_TOPIC"),
                allow_plaintext=plaintext,
                allowed_cidrs=env.networks(
                    "BRIDGE_ALLOWED_CIDRS", env.items("BRIDGE_ALLOWED_CIDRS")
                ),
                api_url=_api_url(env, env.raw("BRIDGE_ARGOS_API_URL"), "BRIDGE_ARGOS_API_URL"),
                encrypt_responses=env.flag(
                    "BRIDGE_ENCRYPT_RESPONSES", encrypt_responses_default(plaintext)
                ),
            ),
        )
    names = [p.name for p in projects]
    if len(set(names)) != len(names):
        env.error(f"BRIDGE_CONFIG_FILE: duplicate project names in {names}")
    seen: set[str] = set()
    for project in projects:
        if not project.tokens and require_tokens:
            env.error(
                f"BRIDGE_AUTH_TOKENS: project {project.name!r} has no tokens; set "
                "BRIDGE_AUTH_TOKENS (comma-separated) or run `kyc-bridge serve --dev` "
                "for an insecure local token"
            )
        for token in project.tokens:
            if len(token.value) < _MIN_TOKEN:
                env.error(
                    f"BRIDGE_AUTH_TOKENS: a token of project {project.name!r} is shorter "
                    f"than {_MIN_TOKEN} characters"
                )
            if token.value in seen:
                env.error("BRIDGE_AUTH_TOKENS: the same token is used by two projects")
            seen.add(token.value)
    return tuple(projects)


def _kafka(env: Env) -> KafkaSettings:
    protocol = env.choice(
        "BRIDGE_KAFKA_SECURITY_PROTOCOL", _KAFKA.security_protocol, get_args(SecurityProtocol)
    )
    mechanism: SaslMechanism | None = None
    if env.raw("BRIDGE_KAFKA_SASL_MECHANISM"):
        mechanism = env.choice("BRIDGE_KAFKA_SASL_MECHANISM", "PLAIN", get_args(SaslMechanism))
    password = env.raw("BRIDGE_KAFKA_SASL_PASSWORD", secret=True)
    key_password = env.raw("BRIDGE_KAFKA_SSL_KEY_PASSWORD", secret=True)
    settings = KafkaSettings(
        bootstrap_servers=env.text("BRIDGE_KAFKA_BOOTSTRAP_SERVERS", _KAFKA.bootstrap_servers),
        security_protocol=protocol,
        sasl_mechanism=mechanism,
        sasl_username=env.raw("BRIDGE_KAFKA_SASL_USERNAME"),
        sasl_password=Secret(password) if password else None,
        ssl_cafile=env.path("BRIDGE_KAFKA_SSL_CAFILE"),
        ssl_certfile=env.path("BRIDGE_KAFKA_SSL_CERTFILE"),
        ssl_keyfile=env.path("BRIDGE_KAFKA_SSL_KEYFILE"),
        ssl_key_password=Secret(key_password) if key_password else None,
        ssl_check_hostname=env.flag("BRIDGE_KAFKA_SSL_CHECK_HOSTNAME", _KAFKA.ssl_check_hostname),
        client_id=env.text("BRIDGE_KAFKA_CLIENT_ID", _KAFKA.client_id),
        linger_ms=env.integer("BRIDGE_KAFKA_LINGER_MS", _KAFKA.linger_ms),
        request_timeout_ms=env.integer(
            "BRIDGE_KAFKA_REQUEST_TIMEOUT_MS", _KAFKA.request_timeout_ms, minimum=1000
        ),
        max_record_bytes=env.integer(
            "BRIDGE_KAFKA_MAX_RECORD_BYTES", _KAFKA.max_record_bytes, minimum=1024
        ),
    )
    if protocol.startswith("SASL"):
        if not (mechanism and settings.sasl_username and settings.sasl_password):
            env.error(
                f"BRIDGE_KAFKA_SASL_MECHANISM: security protocol {protocol} needs "
                "BRIDGE_KAFKA_SASL_MECHANISM, BRIDGE_KAFKA_SASL_USERNAME and "
                "BRIDGE_KAFKA_SASL_PASSWORD"
            )
    elif mechanism:
        env.error(
            f"BRIDGE_KAFKA_SASL_MECHANISM: set, but BRIDGE_KAFKA_SECURITY_PROTOCOL is {protocol}"
        )
    if bool(settings.ssl_certfile) != bool(settings.ssl_keyfile):
        env.error(
            "BRIDGE_KAFKA_SSL_CERTFILE: a client certificate needs BRIDGE_KAFKA_SSL_KEYFILE too"
        )
    missing = False
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        path = getattr(settings, name)
        if path is not None and not path.is_file():
            env.error(f"BRIDGE_KAFKA_{name.upper()}: {path} is not a readable file")
            missing = True
    if protocol.endswith("SSL") and not missing:
        _check_tls(env, settings)
    return settings


def _check_tls(env: Env, settings: KafkaSettings) -> None:
    """Load every TLS file once at startup, so a bad one fails here, naming its setting."""
    try:
        context = ssl.create_default_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
    except (ssl.SSLError, OSError, ValueError):
        env.error(f"BRIDGE_KAFKA_SSL_CAFILE: {settings.ssl_cafile} is not a PEM CA bundle")
        return
    if settings.ssl_certfile is None or settings.ssl_keyfile is None:
        return
    try:
        x509.load_pem_x509_certificate(settings.ssl_certfile.read_bytes())
    except (ValueError, OSError):
        env.error(f"BRIDGE_KAFKA_SSL_CERTFILE: {settings.ssl_certfile} is not a PEM certificate")
        return
    password = settings.ssl_key_password.value if settings.ssl_key_password else None
    try:
        serialization.load_pem_private_key(
            settings.ssl_keyfile.read_bytes(), password.encode() if password else None
        )
    except TypeError:  # encrypted without a password, or a password for a plain key
        env.error("BRIDGE_KAFKA_SSL_KEY_PASSWORD: missing, or given for an unencrypted key")
        return
    except (ValueError, OSError) as exc:
        if password and "decrypt" in str(exc).lower():
            env.error("BRIDGE_KAFKA_SSL_KEY_PASSWORD: does not decrypt the client key")
        else:
            env.error(f"BRIDGE_KAFKA_SSL_KEYFILE: {settings.ssl_keyfile} is not a PEM private key")
        return
    try:
        context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile, password)
    except (ssl.SSLError, OSError, ValueError):
        env.error("BRIDGE_KAFKA_SSL_KEYFILE: the key does not match BRIDGE_KAFKA_SSL_CERTFILE")


def _http(env: Env) -> HttpSettings:
    settings = HttpSettings(
        host=env.text("BRIDGE_HTTP_HOST", _HTTP.host),
        port=env.integer("BRIDGE_HTTP_PORT", _HTTP.port),
        tls_certfile=env.path("BRIDGE_HTTP_TLS_CERTFILE"),
        tls_keyfile=env.path("BRIDGE_HTTP_TLS_KEYFILE"),
        max_body_bytes=env.integer(
            "BRIDGE_HTTP_MAX_BODY_BYTES", _HTTP.max_body_bytes, minimum=1024
        ),
        read_timeout_s=env.number("BRIDGE_HTTP_READ_TIMEOUT_S", _HTTP.read_timeout_s, minimum=0.1),
        max_concurrency=env.integer(
            "BRIDGE_HTTP_MAX_CONCURRENCY", _HTTP.max_concurrency, minimum=1
        ),
        max_headers=env.integer("BRIDGE_HTTP_MAX_HEADERS", _HTTP.max_headers, minimum=8),
        max_header_bytes=env.integer(
            "BRIDGE_HTTP_MAX_HEADER_BYTES", _HTTP.max_header_bytes, minimum=1024
        ),
        max_connections=env.integer(
            "BRIDGE_HTTP_MAX_CONNECTIONS", _HTTP.max_connections, minimum=1
        ),
        trusted_proxies=env.networks("BRIDGE_TRUSTED_PROXIES", env.items("BRIDGE_TRUSTED_PROXIES")),
    )
    if settings.port > 65535:
        env.error(f"BRIDGE_HTTP_PORT: {settings.port} is not a TCP port")
    if bool(settings.tls_certfile) != bool(settings.tls_keyfile):
        env.error("BRIDGE_HTTP_TLS_CERTFILE: TLS needs both a certificate and a key file")
    return settings


def _spool(env: Env) -> SpoolSettings:
    return SpoolSettings(
        directory=env.path("BRIDGE_SPOOL_DIR") or _SPOOL.directory,
        max_bytes=env.integer("BRIDGE_SPOOL_MAX_BYTES", _SPOOL.max_bytes, minimum=64 * 1024),
        max_events=env.integer("BRIDGE_SPOOL_MAX_EVENTS", _SPOOL.max_events, minimum=1),
        min_free_bytes=env.integer("BRIDGE_SPOOL_MIN_FREE_BYTES", _SPOOL.min_free_bytes),
        dedup_window_s=env.number("BRIDGE_DEDUP_WINDOW_S", _SPOOL.dedup_window_s),
        dedup_max_entries=env.integer("BRIDGE_DEDUP_MAX_ENTRIES", _SPOOL.dedup_max_entries),
    )


def _pii(env: Env) -> PiiSettings:
    mode = env.choice("BRIDGE_PII_PROTECTION", _PII.mode, get_args(PiiMode))
    settings = PiiSettings(
        mode=mode,
        keys_topic=env.text("BRIDGE_PII_KEYS_TOPIC", _PII.keys_topic),
        kek_file=env.path("BRIDGE_PII_KEK_FILE"),
        kms_key_id=env.raw("BRIDGE_PII_KMS_KEY_ID"),
        kms_region=env.raw("BRIDGE_PII_KMS_REGION"),
        kms_endpoint_url=env.raw("BRIDGE_PII_KMS_ENDPOINT_URL"),
        erase_on_delete=env.flag("BRIDGE_PII_ERASE_ON_DELETE", _PII.erase_on_delete),
    )
    if settings.kek_file is not None and settings.kms_key_id is not None:
        env.error("BRIDGE_PII_KEK_FILE: set either it or BRIDGE_PII_KMS_KEY_ID, not both")
    if settings.kek_file is not None and not settings.kek_file.is_file():
        env.error(f"BRIDGE_PII_KEK_FILE: {settings.kek_file} is not a readable file")
    return settings


def _reconcile(env: Env) -> ReconcileSettings:
    defaults = ReconcileSettings()
    settings = ReconcileSettings(
        interval_s=env.number("BRIDGE_RECONCILE_INTERVAL_S", defaults.interval_s),
        lookback_days=env.integer("BRIDGE_RECONCILE_LOOKBACK_DAYS", defaults.lookback_days),
    )
    for problem in settings.problems():
        env.error(f"BRIDGE_RECONCILE_INTERVAL_S: {problem}")
    return settings


def load_settings(
    env: Mapping[str, str], *, dev_token: str | None = None, require_tokens: bool = True
) -> Settings:
    """
    Build and validate the settings from an environment mapping.

    `dev_token` is used as the default project's token when no token is
    configured at all (the explicit insecure `serve --dev` switch). Commands
    that never receive webhooks pass `require_tokens=False`.

    Raises:
        ConfigError: listing every problem found, each naming its setting.
    """
    e = Env(env)
    deadline_ms = e.integer(
        "BRIDGE_PUBLISH_DEADLINE_MS", round(_DEFAULTS.publish_deadline_s * 1000), minimum=1
    )
    settings = Settings(
        projects=_projects(e, dev_token, require_tokens=require_tokens),
        kafka=_kafka(e),
        http=_http(e),
        spool=_spool(e),
        topic=e.text("BRIDGE_TOPIC", _DEFAULTS.topic),
        dlq_topic=e.text("BRIDGE_DLQ_TOPIC", _DEFAULTS.dlq_topic),
        log_level=e.choice("BRIDGE_LOG_LEVEL", _DEFAULTS.log_level, get_args(LogLevel)),
        publish_deadline_s=deadline_ms / 1000,
        shutdown_grace_s=e.number("BRIDGE_SHUTDOWN_GRACE_S", _DEFAULTS.shutdown_grace_s),
        pii=_pii(e),
        state_topic=e.text("BRIDGE_STATE_TOPIC", _DEFAULTS.state_topic),
        reconcile=_reconcile(e),
    )
    if settings.topic == settings.dlq_topic:
        e.error("BRIDGE_DLQ_TOPIC: must differ from BRIDGE_TOPIC")
    owned = (settings.pii.keys_topic, settings.state_topic)
    if len(set(owned)) < 2 or set(owned) & {settings.topic, settings.dlq_topic}:
        e.error("BRIDGE_STATE_TOPIC: the events, DLQ, keys and state topics must all differ")
    if settings.encrypts and not (settings.pii.kek_file or settings.pii.kms_key_id):
        e.error(
            "BRIDGE_PII_KEK_FILE: the encrypt mode needs a key-encryption key: a JWK Set "
            "file (BRIDGE_PII_KEK_FILE) or an AWS KMS key (BRIDGE_PII_KMS_KEY_ID)"
        )
    if e.errors:
        raise ConfigError("\n".join(e.errors), problems=tuple(e.errors))
    return settings
