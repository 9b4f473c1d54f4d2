"""The local Kafka 4.x broker tool (deploy/kafka/kafkactl.py) against real brokers.

Two module-scoped brokers are shared: a PLAINTEXT one (lifecycle and fault tests, in file
order) and one with SASL_PLAINTEXT, SSL (client certs required) and SASL_SSL listeners.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from ssl import SSLContext
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from tests.support.broker import (
    KAFKACTL_PATH,
    SECURE_PLAIN_USERS,
    SECURE_SCRAM_USERS,
    Broker,
    BrokerPool,
    BrokerStartError,
    KafkaCtlError,
    kafkactl,
    pick_free_port,
    probe_metadata,
)
from tests.support.certs import TlsFiles

pytestmark = pytest.mark.kafka

PLAIN_USERS = SECURE_PLAIN_USERS
SCRAM_USERS = SECURE_SCRAM_USERS


@pytest.fixture(scope="module", name="pool")
def _pool(brokers: BrokerPool) -> BrokerPool:
    return brokers


@pytest.fixture(scope="module", name="broker")
def _broker(pool: BrokerPool) -> Broker:
    return pool.start("plain")


@pytest.fixture(scope="module", name="tls")
def _tls(tls_files: TlsFiles) -> TlsFiles:
    return tls_files


@pytest.fixture(scope="module", name="secure_broker")
def _secure_broker(secure_kafka: Broker) -> Broker:
    return secure_kafka


def _topic() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


async def _produce(bootstrap: str, topic: str, values: list[bytes], **client: Any) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **client
    )
    try:
        await producer.start()
        for value in values:
            await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def _consume(
    bootstrap: str, topic: str, count: int, *, group_id: str | None = None, **client: Any
) -> list[bytes]:
    """Read ``count`` records of partition 0 from the start (a group, or manual assignment)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **client,
    )
    values: list[bytes] = []
    try:
        await consumer.start()
        if group_id is None:
            partition = TopicPartition(topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
        else:
            consumer.subscribe([topic])
        async with asyncio.timeout(30):
            while len(values) < count:
                record = await consumer.getone()
                values.append(record.value)
    finally:
        await consumer.stop()
    return values


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------- no broker needed


def test_fetch_is_a_no_op_when_the_stamp_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    """With jars stamped for the current pom, fetch() neither needs nor runs mvn."""
    kafkactl.fetch()  # resolves (and stamps) only if the pom changed
    monkeypatch.setenv("PATH", "/nonexistent")
    started = time.monotonic()
    assert kafkactl.fetch() == kafkactl.DEFAULT_LIBDIR
    assert time.monotonic() - started < 1


def test_fetch_reports_missing_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unstamped lib dir and no mvn on PATH give a clear KafkaCtlError."""
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(KafkaCtlError, match="mvn not found"):
        kafkactl.fetch(libdir=tmp_path / "libs")


def test_old_java_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Java 11 found through JAVA_HOME is refused with the version in the message."""
    fake_java = tmp_path / "bin" / "java"
    fake_java.parent.mkdir()
    fake_java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
    fake_java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(KafkaCtlError, match=r"Java 11; Kafka 4\.x brokers need Java 17"):
        kafkactl.check_java()


# --------------------------------------------------------------------------- PLAINTEXT broker


async def test_produce_consume_idempotent_with_consumer_group(broker: Broker) -> None:
    """A fresh broker serves an idempotent acks=all producer and a consumer group."""
    assert f"127.0.0.1:{broker.port}" == broker.bootstrap
    assert broker.is_running()
    assert "Kafka Server started" in broker.log_path.read_text()
    topic = _topic()
    await broker.acreate_topic(topic, partitions=2)
    await _produce(broker.bootstrap, topic, [b"hello"])
    assert await _consume(broker.bootstrap, topic, 1, group_id="g-" + topic) == [b"hello"]


async def test_stop_then_restart_keeps_port_and_data(broker: Broker) -> None:
    """stop() closes the port; restart() reopens the same port with the records kept."""
    topic = _topic()
    broker.create_topic(topic)  # the blocking twin also works inside a running loop
    await _produce(broker.bootstrap, topic, [b"before-stop"])
    port, data_dir = broker.port, broker.data_dir

    await broker.astop()
    assert not broker.is_running()
    assert not _port_open(port)
    assert not broker.pid_path.exists()

    await broker.arestart()
    assert (port, data_dir) == (broker.port, broker.data_dir)
    assert await _consume(broker.bootstrap, topic, 1) == [b"before-stop"]


async def test_kill_9_then_restart_recovers_acked_records(broker: Broker) -> None:
    """Records acked with acks=all survive a SIGKILL; the restarted broker takes new ones."""
    topic = _topic()
    await broker.acreate_topic(topic)
    await _produce(broker.bootstrap, topic, [b"acked-1", b"acked-2"])
    pid = broker.pid
    assert pid is not None

    broker.kill()
    assert not broker.is_running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)

    await broker.arestart()  # stop() is a no-op on a dead JVM; same ports and data dir
    await _produce(broker.bootstrap, topic, [b"after-crash"])
    expected = [b"acked-1", b"acked-2", b"after-crash"]
    assert expected == await _consume(broker.bootstrap, topic, 3)


def test_start_fails_fast_with_the_log_tail(pool: BrokerPool, broker: Broker) -> None:
    """A JVM that dies at startup (its port is taken) fails start() quickly, with the log."""
    clash = pool.new("clash", port=broker.port)
    started = time.monotonic()
    with pytest.raises(BrokerStartError) as caught:
        clash.start(timeout=60)
    assert time.monotonic() - started < 30
    assert "exited" in caught.value.summary
    assert "Address already in use" in caught.value.detail
    assert not clash.is_running()
    assert broker.is_running()


def test_cli_up_status_down(tmp_path: Path) -> None:
    """`up` prints the bootstrap and is idempotent; `status` and `down` follow the broker."""
    workdir, port = tmp_path / "dev", pick_free_port()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(KAFKACTL_PATH), *args, "--workdir", str(workdir)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    up = cli("up", "--port", str(port))
    try:
        assert (0, f"127.0.0.1:{port}\n") == (up.returncode, up.stdout), up.stderr
        probe_metadata(port)
        again = cli("up", "--port", str(port))
        assert (0, f"127.0.0.1:{port}\n") == (again.returncode, again.stdout)
        assert "already running" in again.stderr
        assert cli("status").returncode == 0
    finally:
        down = cli("down")
    assert down.returncode == 0, down.stderr
    assert not _port_open(port)
    status = cli("status")
    assert (status.returncode, status.stdout) == (1, "")
    assert "not running" in status.stderr


# --------------------------------------------------------------------------- SASL / SSL


def _security_cases() -> list[Any]:
    return [
        pytest.param("SASL_PLAINTEXT", "PLAIN", PLAIN_USERS, id="sasl-plain"),
        pytest.param("SASL_PLAINTEXT", "SCRAM-SHA-256", SCRAM_USERS, id="sasl-scram-256"),
        pytest.param("SASL_PLAINTEXT", "SCRAM-SHA-512", SCRAM_USERS, id="sasl-scram-512"),
        pytest.param("SSL", None, None, id="ssl-mtls"),
        pytest.param("SASL_SSL", "SCRAM-SHA-512", SCRAM_USERS, id="sasl-ssl-scram-512"),
    ]


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


@pytest.mark.parametrize(("protocol", "mechanism", "users"), _security_cases())
async def test_secured_listener_round_trip(
    secure_broker: Broker,
    tls: TlsFiles,
    protocol: str,
    mechanism: str | None,
    users: dict[str, str] | None,
) -> None:
    """Each secured listener/mechanism authenticates, produces and consumes one record."""
    topic = _topic()
    await secure_broker.acreate_topic(topic)
    bootstrap, options = _client(secure_broker, tls, protocol, mechanism, users)
    await _produce(bootstrap, topic, [protocol.encode()], **options)
    assert [protocol.encode()] == await _consume(bootstrap, topic, 1, **options)


@pytest.mark.parametrize(
    ("protocol", "mechanism", "users", "password", "client_cert", "reason"),
    [
        pytest.param(
            "SASL_PLAINTEXT",
            "PLAIN",
            PLAIN_USERS,
            "wrong",
            True,
            "SaslAuthenticationFailed",
            id="plain-password",
        ),
        pytest.param(
            "SASL_PLAINTEXT",
            "SCRAM-SHA-512",
            SCRAM_USERS,
            "wrong",
            True,
            "SaslAuthenticationFailed",
            id="scram-password",
        ),
        pytest.param("SSL", None, None, None, False, "closed", id="ssl-without-client-cert"),
    ],
)
async def test_bad_credentials_are_refused(
    secure_broker: Broker,
    tls: TlsFiles,
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
        secure_broker,
        tls,
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
