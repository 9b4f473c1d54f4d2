"""SASL_PLAINTEXT, SSL (client certificates required) and SASL_SSL listeners of the session's
secured broker (tests/conftest.py `secure_kafka`)."""

from __future__ import annotations

from ssl import SSLContext
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from tests.kafka.clients import consume, produce, unique_topic
from tests.support.broker import SECURE_PLAIN_USERS, SECURE_SCRAM_USERS, Broker
from tests.support.certs import TlsFiles

pytestmark = pytest.mark.kafka


def _client(
    broker: Broker,
    tls: TlsFiles,
    protocol: str,
    mechanism: str | None,
    users: dict[str, str] | None,
    *,
    password: str | None = None,
    client_cert: bool = True,
) -> tuple[str, dict[str, Any]]:
    """Bootstrap address and aiokafka keyword arguments for one listener/mechanism."""
    options: dict[str, Any] = {"security_protocol": protocol}
    if mechanism is not None and users is not None:
        ((user, secret),) = users.items()
        options |= {
            "sasl_mechanism": mechanism,
            "sasl_plain_username": user,
            "sasl_plain_password": password if password is not None else secret,
        }
    if protocol in ("SSL", "SASL_SSL"):
        context: SSLContext = tls.client_context(with_client_cert=client_cert)
        options["ssl_context"] = context
    bootstrap = {
        "SASL_PLAINTEXT": broker.sasl_bootstrap,
        "SSL": broker.ssl_bootstrap,
        "SASL_SSL": broker.sasl_ssl_bootstrap,
    }[protocol]
    return bootstrap, options


@pytest.mark.parametrize(
    ("protocol", "mechanism", "users"),
    [
        pytest.param("SASL_PLAINTEXT", "PLAIN", SECURE_PLAIN_USERS, id="sasl-plain"),
        pytest.param("SASL_PLAINTEXT", "SCRAM-SHA-256", SECURE_SCRAM_USERS, id="sasl-scram-256"),
        pytest.param("SASL_PLAINTEXT", "SCRAM-SHA-512", SECURE_SCRAM_USERS, id="sasl-scram-512"),
        pytest.param("SSL", None, None, id="ssl-mtls"),
        pytest.param("SASL_SSL", "SCRAM-SHA-512", SECURE_SCRAM_USERS, id="sasl-ssl-scram-512"),
    ],
)
async def test_secured_listener_round_trip(
    secure_kafka: Broker,
    tls_files: TlsFiles,
    protocol: str,
    mechanism: str | None,
    users: dict[str, str] | None,
) -> None:
    """Each secured listener/mechanism authenticates, produces and consumes one record."""
    topic = unique_topic()
    await secure_kafka.acreate_topic(topic)
    bootstrap, options = _client(secure_kafka, tls_files, protocol, mechanism, users)
    await produce(bootstrap, topic, [protocol.encode()], **options)
    assert [protocol.encode()] == await consume(bootstrap, topic, 1, **options)


@pytest.mark.parametrize(
    ("protocol", "mechanism", "users", "password", "client_cert", "reason"),
    [
        pytest.param(
            "SASL_PLAINTEXT",
            "PLAIN",
            SECURE_PLAIN_USERS,
            "wrong",
            True,
            "SaslAuthenticationFailed",
            id="plain-password",
        ),
        pytest.param(
            "SASL_PLAINTEXT",
            "SCRAM-SHA-512",
            SECURE_SCRAM_USERS,
            "wrong",
            True,
            "SaslAuthenticationFailed",
            id="scram-password",
        ),
        pytest.param("SSL", None, None, None, False, "closed", id="ssl-without-client-cert"),
    ],
)
async def test_bad_credentials_are_refused(
    secure_kafka: Broker,
    tls_files: TlsFiles,
    caplog: pytest.LogCaptureFixture,
    protocol: str,
    mechanism: str | None,
    users: dict[str, str] | None,
    password: str | None,
    client_cert: bool,
    reason: str,
) -> None:
    """A wrong SASL password, or no client certificate on the mTLS listener, cannot connect."""
    bootstrap, options = _client(
        secure_kafka,
        tls_files,
        protocol,
        mechanism,
        users,
        password=password,
        client_cert=client_cert,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000, **options)
    try:
        with pytest.raises(KafkaError):
            await producer.start()
    finally:
        await producer.stop()
    assert reason in caplog.text  # aiokafka logs why the bootstrap connection failed
