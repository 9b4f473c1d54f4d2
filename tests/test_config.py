"""Settings: built from the environment (and TOML), validated, secrets masked."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from bridge.commands.config import render_settings
from bridge.config import Secret, load_settings
from bridge.errors import ConfigError
from tests.support.certs import TlsFiles, make_tls_files

TOKEN = "t" * 24


def test_defaults_match_the_documented_contract() -> None:
    """With only a token set, every default is the documented one."""
    settings = load_settings({"BRIDGE_AUTH_TOKENS": TOKEN})
    assert "127.0.0.1:9092" == settings.kafka.bootstrap_servers
    assert ("0.0.0.0", 8080) == (settings.http.host, settings.http.port)
    assert ("kyc.events.v1", "kyc.events.dlq.v1") == (settings.topic, settings.dlq_topic)
    assert "default" == settings.projects[0].name
    assert (TOKEN,) == tuple(t.value for t in settings.projects[0].tokens)


def test_refuses_to_start_without_tokens() -> None:
    """No token and no dev switch: a clear error naming BRIDGE_AUTH_TOKENS."""
    with pytest.raises(ConfigError, match="BRIDGE_AUTH_TOKENS"):
        load_settings({})


def test_dev_switch_supplies_a_token() -> None:
    """The explicit insecure dev switch provides the default project's token."""
    settings = load_settings({}, dev_token="d" * 32)
    assert "d" * 32 == settings.projects[0].tokens[0].value


def test_several_tokens_and_keys_for_rotation() -> None:
    """Comma-separated tokens and API keys are all accepted at once."""
    settings = load_settings(
        {"BRIDGE_AUTH_TOKENS": f"{TOKEN}, {'u' * 20}", "BRIDGE_ARGOS_API_KEYS": "k1,k2"}
    )
    project = settings.projects[0]
    assert 2 == len(project.tokens)
    assert ["k1", "k2"] == [k.value for k in project.api_keys]


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"BRIDGE_HTTP_PORT": "eighty"}, "BRIDGE_HTTP_PORT"),
        ({"BRIDGE_HTTP_PORT": "70000"}, "BRIDGE_HTTP_PORT"),
        ({"BRIDGE_LOG_LEVEL": "LOUD"}, "BRIDGE_LOG_LEVEL"),
        ({"BRIDGE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "BRIDGE_KAFKA_SASL_MECHANISM"),
        ({"BRIDGE_KAFKA_SASL_MECHANISM": "PLAIN"}, "BRIDGE_KAFKA_SASL_MECHANISM"),
        ({"BRIDGE_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, "BRIDGE_KAFKA_SSL_CAFILE"),
        ({"BRIDGE_ALLOWED_CIDRS": "10.0.0.0/33"}, "BRIDGE_ALLOWED_CIDRS"),
        ({"BRIDGE_DLQ_TOPIC": "kyc.events.v1"}, "BRIDGE_DLQ_TOPIC"),
        ({"BRIDGE_AUTH_TOKENS": "short"}, "BRIDGE_AUTH_TOKENS"),
        ({"BRIDGE_SPOOL_MAX_BYTES": "-1"}, "BRIDGE_SPOOL_MAX_BYTES"),
        ({"BRIDGE_HTTP_TLS_CERTFILE": "/x.pem"}, "BRIDGE_HTTP_TLS_CERTFILE"),
        ({"BRIDGE_HTTP_MAX_HEADERS": "4"}, "BRIDGE_HTTP_MAX_HEADERS"),
        ({"BRIDGE_HTTP_MAX_HEADER_BYTES": "512"}, "BRIDGE_HTTP_MAX_HEADER_BYTES"),
        ({"BRIDGE_HTTP_MAX_CONNECTIONS": "0"}, "BRIDGE_HTTP_MAX_CONNECTIONS"),
        ({"BRIDGE_ENCRYPT_RESPONSES": "maybe"}, "BRIDGE_ENCRYPT_RESPONSES"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], names: str) -> None:
    """Every invalid value raises ConfigError whose message names the setting."""
    with pytest.raises(ConfigError, match=names):
        load_settings({"BRIDGE_AUTH_TOKENS": TOKEN, **env})


def test_http_request_caps_have_defaults_and_can_be_set() -> None:
    """Header count, head size and connection caps: documented defaults, env overrides."""
    default = load_settings({"BRIDGE_AUTH_TOKENS": TOKEN}).http
    assert (64, 16384, 1024) == (
        default.max_headers,
        default.max_header_bytes,
        default.max_connections,
    )
    env = {
        "BRIDGE_HTTP_MAX_HEADERS": "32",
        "BRIDGE_HTTP_MAX_HEADER_BYTES": "8192",
        "BRIDGE_HTTP_MAX_CONNECTIONS": "128",
    }
    http = load_settings({"BRIDGE_AUTH_TOKENS": TOKEN, **env}).http
    assert (32, 8192, 128) == (http.max_headers, http.max_header_bytes, http.max_connections)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"BRIDGE_ALLOW_PLAINTEXT": "false"}, True),  # encrypted-only: on by default
        ({"BRIDGE_ALLOW_PLAINTEXT": "false", "BRIDGE_ENCRYPT_RESPONSES": "false"}, False),
        ({"BRIDGE_ENCRYPT_RESPONSES": "true"}, True),
    ],
)
def test_encrypt_responses_defaults_to_encrypted_only_projects(
    env: dict[str, str], expected: bool
) -> None:
    """BRIDGE_ENCRYPT_RESPONSES defaults to on exactly when plaintext is not allowed."""
    settings = load_settings({"BRIDGE_AUTH_TOKENS": TOKEN, **env})
    assert expected == settings.projects[0].encrypt_responses


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    """BRIDGE_<NAME>_FILE reads the secret from a file (Kubernetes secrets)."""
    (tmp_path / "tokens").write_text(f"{TOKEN}\n")
    (tmp_path / "keys").write_text("key-a,key-b\n")
    settings = load_settings(
        {
            "BRIDGE_AUTH_TOKENS_FILE": str(tmp_path / "tokens"),
            "BRIDGE_ARGOS_API_KEYS_FILE": str(tmp_path / "keys"),
        }
    )
    assert TOKEN == settings.projects[0].tokens[0].value
    assert ["key-a", "key-b"] == [k.value for k in settings.projects[0].api_keys]


def test_projects_from_toml(tmp_path: Path) -> None:
    """A TOML file configures several projects with their own tokens, keys and topic."""
    path = tmp_path / "bridge.toml"
    path.write_text(
        f"""
[projects.kr]
tokens = ["{"k" * 20}"]
api_keys = ["kr-key"]
topic = "kyc.kr.v1"
allow_plaintext = false
allowed_cidrs = ["203.0.113.0/24"]

[projects.us]
tokens = ["{"s" * 20}"]

[projects.jp]
tokens = ["{"j" * 20}"]
allow_plaintext = false
encrypt_responses = false
"""
    )
    settings = load_settings({"BRIDGE_CONFIG_FILE": str(path)})
    assert ["kr", "us", "jp"] == [p.name for p in settings.projects]
    kr = settings.projects[0]
    assert "kyc.kr.v1" == settings.topic_for(kr)
    assert "kyc.events.v1" == settings.topic_for(settings.projects[1])
    assert kr.allow_plaintext is False
    # encrypt_responses: on for encrypted-only projects unless set
    assert [True, False, False] == [p.encrypt_responses for p in settings.projects]


def test_toml_errors_name_the_key(tmp_path: Path) -> None:
    """Unknown or mistyped keys in the TOML file are reported with their path."""
    path = tmp_path / "bridge.toml"
    path.write_text('[projects.kr]\ntokens = ["' + "k" * 20 + '"]\ntopik = "x"\n')
    with pytest.raises(ConfigError, match=r"projects\.kr"):
        load_settings({"BRIDGE_CONFIG_FILE": str(path)})
    path.write_text('[projects.kr]\ntokens = ["' + "k" * 20 + '"]\nencrypt_responses = "yes"\n')
    with pytest.raises(ConfigError, match=r"projects\.kr\.encrypt_responses"):
        load_settings({"BRIDGE_CONFIG_FILE": str(path)})


def test_secret_never_shows_in_repr_or_config_check() -> None:
    """Secrets are masked in repr and in `config check` output."""
    settings = load_settings(
        {
            "BRIDGE_AUTH_TOKENS": TOKEN,
            "BRIDGE_ARGOS_API_KEYS": "super-secret-api-key",
            "BRIDGE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "BRIDGE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "BRIDGE_KAFKA_SASL_USERNAME": "bridge",
            "BRIDGE_KAFKA_SASL_PASSWORD": "kafka-password-123",
        }
    )
    shown = repr(settings) + render_settings(settings)
    for secret in (TOKEN, "super-secret-api-key", "kafka-password-123"):
        assert secret not in shown
    assert "Secret('**********')" == repr(Secret("x"))


def _encrypted_key(tls: TlsFiles, directory: Path, password: bytes) -> Path:
    key = serialization.load_pem_private_key(tls.client_key_pem.read_bytes(), None)
    path = directory / "client-key-encrypted.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
    )
    return path


@pytest.mark.parametrize(
    ("case", "setting"),
    [
        ("ca-not-pem", "BRIDGE_KAFKA_SSL_CAFILE"),
        ("cert-not-pem", "BRIDGE_KAFKA_SSL_CERTFILE"),
        ("wrong-key-password", "BRIDGE_KAFKA_SSL_KEY_PASSWORD"),
    ],
)
def test_tls_files_are_checked_at_startup_naming_the_setting(
    case: str, setting: str, tmp_path: Path
) -> None:
    """
    Regression: an invalid CA file or a wrong key password raised ssl.SSLError inside
    the relay, which died while webhooks kept getting 202. Now startup fails.
    """
    tls = make_tls_files(tmp_path / "tls")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text(
        "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n"
    )
    env = {
        "BRIDGE_AUTH_TOKENS": TOKEN,
        "BRIDGE_KAFKA_SECURITY_PROTOCOL": "SSL",
        "BRIDGE_KAFKA_SSL_CAFILE": str(garbage if case == "ca-not-pem" else tls.ca_pem),
        "BRIDGE_KAFKA_SSL_CERTFILE": str(
            garbage if case == "cert-not-pem" else tls.client_cert_pem
        ),
        "BRIDGE_KAFKA_SSL_KEYFILE": str(tls.client_key_pem),
    }
    if case == "wrong-key-password":
        env["BRIDGE_KAFKA_SSL_KEYFILE"] = str(_encrypted_key(tls, tmp_path, b"right-password"))
        env["BRIDGE_KAFKA_SSL_KEY_PASSWORD"] = "wrong-password"
    with pytest.raises(ConfigError) as raised:
        load_settings(env)
    assert raised.value.problems[0].startswith(f"{setting}:")
    assert "wrong-password" not in str(raised.value)


def test_a_good_encrypted_client_key_passes_the_startup_check(tmp_path: Path) -> None:
    """The same check accepts valid files and the right key password."""
    tls = make_tls_files(tmp_path / "tls")
    settings = load_settings(
        {
            "BRIDGE_AUTH_TOKENS": TOKEN,
            "BRIDGE_KAFKA_SECURITY_PROTOCOL": "SSL",
            "BRIDGE_KAFKA_SSL_CAFILE": str(tls.ca_pem),
            "BRIDGE_KAFKA_SSL_CERTFILE": str(tls.client_cert_pem),
            "BRIDGE_KAFKA_SSL_KEYFILE": str(_encrypted_key(tls, tmp_path, b"right-password")),
            "BRIDGE_KAFKA_SSL_KEY_PASSWORD": "right-password",
        }
    )
    assert "SSL" == settings.kafka.security_protocol


def test_every_configuration_problem_is_reported_in_one_run() -> None:
    """Regression: errors came one at a time; now each bad setting is named at once."""
    with pytest.raises(ConfigError) as raised:
        load_settings(
            {
                "BRIDGE_HTTP_PORT": "eighty",
                "BRIDGE_LOG_LEVEL": "LOUD",
                "BRIDGE_SPOOL_MAX_BYTES": "-1",
                "BRIDGE_DLQ_TOPIC": "kyc.events.v1",
            }
        )
    named = {problem.split(":", 1)[0] for problem in raised.value.problems}
    assert {
        "BRIDGE_HTTP_PORT",
        "BRIDGE_LOG_LEVEL",
        "BRIDGE_SPOOL_MAX_BYTES",
        "BRIDGE_DLQ_TOPIC",
        "BRIDGE_AUTH_TOKENS",
    } == named
