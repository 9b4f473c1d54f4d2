"""Shared fixtures: real Apache Kafka brokers started by the project's own tooling."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.broker import SECURE_PLAIN_USERS, SECURE_SCRAM_USERS, Broker, BrokerPool
from tests.support.certs import TlsFiles, make_tls_files


@pytest.fixture(scope="session", name="brokers")
def _brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerPool]:
    """A pool of brokers for the session; every broker is stopped at the end."""
    with BrokerPool(tmp_path_factory.mktemp("kafka")) as pool:
        yield pool


@pytest.fixture(scope="session", name="kafka")
def _kafka(brokers: BrokerPool) -> Broker:
    """One shared single-node KRaft broker for tests that don't stop or kill it."""
    return brokers.start("shared", extra_overrides={"num.partitions": "3"})


@pytest.fixture(scope="session", name="tls_files")
def _tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A test CA with broker and client certificates (PEM)."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session", name="secure_kafka")
def _secure_kafka(brokers: BrokerPool, tls_files: TlsFiles) -> Broker:
    """One broker with SASL_PLAINTEXT, SSL (client certs required) and SASL_SSL listeners."""
    return brokers.start(
        "secure",
        sasl_port=0,
        ssl_port=0,
        sasl_ssl_port=0,
        ssl_client_auth="required",
        ssl_keystore_pem=tls_files.broker_keystore_pem,
        ssl_truststore_pem=tls_files.truststore_pem,
        plain_users=SECURE_PLAIN_USERS,
        scram_users=SECURE_SCRAM_USERS,
    )
