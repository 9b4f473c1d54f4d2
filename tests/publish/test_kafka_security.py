"""
The bridge's Kafka settings against a real broker with SASL and SSL listeners:
SASL/PLAIN, SCRAM-SHA-256/512, mutual TLS and SASL_SSL, all from BRIDGE_* variables.
"""

from __future__ import annotations

import uuid

import pytest

from bridge.config import load_settings
from bridge.errors import PublishError
from bridge.publish import Record
from bridge.publish.kafka import KafkaPublisher
from tests.support.bridge_proc import read_topic
from tests.support.broker import SECURE_PLAIN_USERS, SECURE_SCRAM_USERS, Broker
from tests.support.certs import TlsFiles

pytestmark = pytest.mark.kafka


def _env(secure: Broker, tls: TlsFiles, case: str, password: str | None = None) -> dict[str, str]:
    protocol, _, mechanism = case.partition("/")
    bootstrap = {
        "SASL_PLAINTEXT": secure.sasl_bootstrap,
        "SSL": secure.ssl_bootstrap,
        "SASL_SSL": secure.sasl_ssl_bootstrap,
    }[protocol]
    env = {
        "BRIDGE_AUTH_TOKENS": "security-test-token-0001",
        "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "BRIDGE_KAFKA_SECURITY_PROTOCOL": protocol,
        "BRIDGE_KAFKA_REQUEST_TIMEOUT_MS": "5000",
    }
    if mechanism:
        users = SECURE_PLAIN_USERS if mechanism == "PLAIN" else SECURE_SCRAM_USERS
        ((user, secret),) = users.items()
        env |= {
            "BRIDGE_KAFKA_SASL_MECHANISM": mechanism,
            "BRIDGE_KAFKA_SASL_USERNAME": user,
            "BRIDGE_KAFKA_SASL_PASSWORD": password or secret,
        }
    if protocol.endswith("SSL"):
        env |= {
            "BRIDGE_KAFKA_SSL_CAFILE": str(tls.ca_pem),
            "BRIDGE_KAFKA_SSL_CERTFILE": str(tls.client_cert_pem),
            "BRIDGE_KAFKA_SSL_KEYFILE": str(tls.client_key_pem),
        }
    return env


CASES = [
    "SASL_PLAINTEXT/PLAIN",
    "SASL_PLAINTEXT/SCRAM-SHA-256",
    "SASL_PLAINTEXT/SCRAM-SHA-512",
    "SSL",
    "SASL_SSL/SCRAM-SHA-512",
    "SASL_SSL/PLAIN",
]


@pytest.mark.parametrize("case", CASES)
async def test_publishes_over_each_secured_listener(
    secure_kafka: Broker, tls_files: TlsFiles, case: str
) -> None:
    """The KafkaPublisher built from BRIDGE_KAFKA_* settings authenticates and publishes."""
    topic = f"sec-{uuid.uuid4().hex[:8]}"
    await secure_kafka.acreate_topic(topic, partitions=1)
    settings = load_settings(_env(secure_kafka, tls_files, case))
    publisher = KafkaPublisher(settings.kafka)
    try:
        partition = await publisher.partition_for(topic, b"k", wait_s=10)
        await publisher.publish(topic, partition, [Record(b"k", case.encode())])
    finally:
        await publisher.stop()
    (record,) = await read_topic(secure_kafka.bootstrap, topic, min_count=1)
    assert case.encode() == record.value


async def test_wrong_password_is_a_transient_publish_error(
    secure_kafka: Broker, tls_files: TlsFiles
) -> None:
    """Bad credentials surface as PublishError (events stay spooled), never a crash."""
    settings = load_settings(
        _env(secure_kafka, tls_files, "SASL_PLAINTEXT/SCRAM-SHA-512", password="wrong")
    )
    publisher = KafkaPublisher(settings.kafka)
    with pytest.raises(PublishError):
        await publisher.partition_for("anything", b"k", wait_s=10)
    assert not publisher.connected
    await publisher.stop()
