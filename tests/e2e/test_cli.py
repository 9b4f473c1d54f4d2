"""The `kyc-bridge` command line, run as a real subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bridge import crypto
from bridge.deadletter import build_dead_letter
from bridge.events import Event, EventFactory
from bridge.schemas import load_registry
from tests.support.acls import allow
from tests.support.bridge_proc import BridgeProcess, free_port, read_topic
from tests.support.broker import Broker, BrokerPool

TOKEN = "cli-test-token-0000000001"


def kyc_bridge(
    *args: str, env: dict[str, str] | None = None, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        input=stdin,
        capture_output=True,
        env={"PATH": os.environ.get("PATH", ""), **(env or {})},
        timeout=120,
        check=False,
    )


COMMANDS = [
    ["serve"], ["config", "check"], ["spool", "status"], ["spool", "drain"], ["dlq", "replay"],
    ["argos", "encrypt"], ["argos", "decrypt"], ["simulate"],
]  # fmt: skip


def test_help_lists_every_command() -> None:
    """`kyc-bridge --help` names every command."""
    result = kyc_bridge("--help")
    assert 0 == result.returncode
    for command in {c[0] for c in COMMANDS}:
        assert command in result.stdout.decode()


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command: list[str]) -> None:
    """Each command answers `--help` with a usage line."""
    result = kyc_bridge(*command, "--help")
    assert 0 == result.returncode
    assert b"usage: kyc-bridge" in result.stdout


def test_config_check_masks_secrets_and_bad_values_exit_2() -> None:
    """`config check` prints the effective config masked; a bad value exits 2 naming it."""
    env = {"BRIDGE_AUTH_TOKENS": TOKEN, "BRIDGE_ARGOS_API_KEYS": "api-key-secret-42"}
    good = kyc_bridge("config", "check", env=env)
    assert 0 == good.returncode
    shown = orjson.loads(good.stdout)
    assert ["****"] == shown["projects"][0]["tokens"]
    assert b"api-key-secret-42" not in good.stdout
    bad = kyc_bridge("config", "check", env={**env, "BRIDGE_HTTP_PORT": "http"})
    assert 2 == bad.returncode
    assert b"BRIDGE_HTTP_PORT" in bad.stderr
    none = kyc_bridge("serve", env={})
    assert 2 == none.returncode
    assert b"BRIDGE_AUTH_TOKENS" in none.stderr


def test_argos_encrypt_then_decrypt_round_trips(tmp_path: Path) -> None:
    """`argos encrypt` builds an ARGOS body that `argos decrypt` (and the bridge) opens."""
    payload = b'{"webhook_trigger":"submit","submission_id":"s1"}'
    encrypted = kyc_bridge(
        "argos", "encrypt", env={"BRIDGE_ARGOS_API_KEYS": "k-123"}, stdin=payload
    )
    assert 0 == encrypted.returncode
    body = orjson.loads(encrypted.stdout)
    assert payload == crypto.decrypt(body["data"], ["k-123"])
    key_file = tmp_path / "api-key"
    key_file.write_text("k-123\n")
    decrypted = kyc_bridge(
        "argos", "decrypt", "--api-key-file", str(key_file), stdin=encrypted.stdout
    )
    assert payload == decrypted.stdout.strip()
    wrong = kyc_bridge("argos", "decrypt", "--api-key", "nope", stdin=encrypted.stdout)
    assert 1 == wrong.returncode


@pytest.mark.parametrize(
    ("source", "command"),
    [("env", "argos"), ("env-file", "argos"), ("file-option", "argos"),
     ("env", "simulate"), ("env-file", "simulate"), ("file-option", "simulate")],
)  # fmt: skip
def test_tools_take_the_api_key_off_the_command_line(
    tmp_path: Path, source: str, command: str
) -> None:
    """Regression: the key came from --api-key or BRIDGE_ARGOS_API_KEY only; now from the
    bridge's BRIDGE_ARGOS_API_KEYS (first key), its _FILE form, or --api-key-file."""
    key_file = tmp_path / "keys"
    key_file.write_text("first-key-0001,second-key-0002\n")
    env: dict[str, str] = {}
    args: list[str] = []
    if source == "env":
        env["BRIDGE_ARGOS_API_KEYS"] = "first-key-0001,second-key-0002"
    elif source == "env-file":
        env["BRIDGE_ARGOS_API_KEYS_FILE"] = str(key_file)
    else:
        args = ["--api-key-file", str(key_file)]
    payload = b'{"webhook_trigger":"submit"}'
    if command == "argos":
        result = kyc_bridge("argos", "encrypt", *args, env=env, stdin=payload)
    else:
        result = kyc_bridge("simulate", "--print", "1", *args, env=env)
    assert 0 == result.returncode, result.stderr.decode()
    plaintext = crypto.decrypt(orjson.loads(result.stdout)["data"], ["first-key-0001"])
    assert b"webhook_trigger" in plaintext


def test_tools_without_a_secret_say_where_to_put_it() -> None:
    """No key, no token and no terminal: exit 2 naming the setting and the file option."""
    argos = kyc_bridge("argos", "encrypt", stdin=b"{}")
    simulate = kyc_bridge("simulate", "--count", "1")
    assert (2, 2) == (argos.returncode, simulate.returncode)
    assert b"BRIDGE_ARGOS_API_KEYS" in argos.stderr
    assert b"--api-key-file" in argos.stderr
    assert b"BRIDGE_AUTH_TOKENS" in simulate.stderr
    assert b"--token-file" in simulate.stderr


def test_every_configuration_error_is_reported_in_one_run() -> None:
    """Several bad settings at once: one run names each on its own line and exits 2."""
    bad = {
        "BRIDGE_HTTP_PORT": "http",
        "BRIDGE_SPOOL_MAX_EVENTS": "0",
        "BRIDGE_LOG_LEVEL": "LOUD",
        "BRIDGE_KAFKA_SECURITY_PROTOCOL": "CARRIER_PIGEON",
        "BRIDGE_ALLOW_PLAINTEXT": "perhaps",
    }
    for command in (["serve"], ["config", "check"], ["spool", "status"]):
        result = kyc_bridge(*command, env={"BRIDGE_AUTH_TOKENS": TOKEN, **bad})
        assert 2 == result.returncode
        lines = result.stderr.decode().splitlines()
        for name in bad:
            assert 1 == sum(line.startswith(f"kyc-bridge: configuration error: {name}:")
                            for line in lines), (name, lines)  # fmt: skip


def test_serve_refuses_a_bad_tls_file_at_startup_naming_the_setting(tmp_path: Path) -> None:
    """A CA file that exists but is no PEM bundle stops `serve` with exit 2, before any work."""
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    env = {
        "BRIDGE_AUTH_TOKENS": TOKEN,
        "BRIDGE_SPOOL_DIR": str(tmp_path / "spool"),
        "BRIDGE_KAFKA_SECURITY_PROTOCOL": "SSL",
        "BRIDGE_KAFKA_SSL_CAFILE": str(bogus),
    }
    result = kyc_bridge("serve", env=env)
    assert 2 == result.returncode
    assert "BRIDGE_KAFKA_SSL_CAFILE" in result.stderr.decode()
    assert not (tmp_path / "spool").exists()  # refused before opening anything


@pytest.mark.parametrize(
    ("command", "code", "says"),
    [
        (["serve"], 2, "BRIDGE_AUTH_TOKENS"),
        (["config", "check"], 2, "BRIDGE_AUTH_TOKENS"),
        (["spool", "status"], 1, "no spool at"),
        (["spool", "drain", "--timeout", "1"], 1, "no spool at"),
        (["dlq", "replay"], 1, "kafka"),
        (["simulate", "--print", "1"], 0, ""),
        (["argos", "encrypt"], 0, ""),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_only_serve_and_config_check_need_webhook_tokens(
    tmp_path: Path, command: list[str], code: int, says: str
) -> None:
    """Without any webhook token, maintenance and read-only commands get as far as their own
    work (here: a missing spool, an unreachable Kafka); serve and config check refuse."""
    env = {
        "BRIDGE_SPOOL_DIR": str(tmp_path / "none"),
        "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "BRIDGE_KAFKA_REQUEST_TIMEOUT_MS": "2000",
        "BRIDGE_ARGOS_API_KEYS": "k-123",
    }
    result = kyc_bridge(*command, env=env, stdin=b"{}")
    stderr = result.stderr.decode()
    assert code == result.returncode, stderr
    assert says.lower() in stderr.lower()
    if code != 2:
        assert "BRIDGE_AUTH_TOKENS" not in stderr
    assert not (tmp_path / "none").exists()


def test_spool_status_without_a_spool_is_a_clear_error(tmp_path: Path) -> None:
    """Regression: `spool status` on a missing spool reported a healthy empty one."""
    result = kyc_bridge("spool", "status", env={"BRIDGE_SPOOL_DIR": str(tmp_path / "none")})
    assert 1 == result.returncode
    assert b"no spool at" in result.stderr
    assert not (tmp_path / "none").exists()


@pytest.mark.kafka
def test_dlq_replay_publishes_what_now_decrypts(kafka: Broker, tmp_path: Path) -> None:
    """A body dead-lettered for a missing key is published by `dlq replay` once the key is set."""
    topic = f"kyc.cli.{uuid.uuid4().hex[:6]}"
    kafka.create_topic(topic, partitions=3)
    kafka.create_topic(topic + ".dlq", partitions=1)
    env = {
        "BRIDGE_AUTH_TOKENS": TOKEN,
        "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "BRIDGE_TOPIC": topic,
        "BRIDGE_DLQ_TOPIC": topic + ".dlq",
    }
    bridge = BridgeProcess(tmp_path / "bridge", {**env, "BRIDGE_ARGOS_API_KEYS": "old-key-1"})
    bridge.start(wait="/readyz")
    payload = orjson.dumps({"webhook_trigger": "approved", "submission_id": "sub_replay"})
    body = orjson.dumps({"data": crypto.encrypt(payload, "rotated-key-2")})
    request = urllib.request.Request(
        f"{bridge.url}/webhooks/argos/{TOKEN}", data=body, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert 400 == info.value.code
    asyncio.run(read_topic(kafka.bootstrap, topic + ".dlq", min_count=1))
    bridge.stop()

    result = kyc_bridge(
        "dlq", "replay", env={**env, "BRIDGE_ARGOS_API_KEYS": "old-key-1,rotated-key-2"}
    )
    assert 0 == result.returncode, result.stderr.decode()
    summary = orjson.loads(result.stdout)
    assert (1, 1, {}) == (summary["read"], summary["replayed"], summary["failed"])
    (record,) = asyncio.run(read_topic(kafka.bootstrap, topic, min_count=1))
    assert b"sub_replay" == record.key


async def _produce_dead_letters(bootstrap: str, topic: str, letters: list[Event]) -> None:
    """Write dead letters as the bridge does, alternating over two partitions."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i, letter in enumerate(letters):
            record = letter.record
            await producer.send_and_wait(
                topic, record.value, key=record.key, headers=list(record.headers), partition=i % 2
            )
    finally:
        await producer.stop()


async def _topic_size(bootstrap: str, topic: str, partitions: int = 3) -> int:
    """Records on `topic` so far (the sum of its end offsets)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
    finally:
        await consumer.stop()
    return sum(ends.values())


async def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets on `topic`, by partition."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


@pytest.mark.kafka
def test_dlq_replay_twice_publishes_each_recoverable_dead_letter_once(kafka: Broker) -> None:
    """
    Regression: every replay started at the beginning and republished everything that now
    succeeds. Now a consumer group remembers: a dry run changes nothing, the first run
    publishes each recoverable dead letter once (ids unchanged), the second run nothing,
    --from-beginning replays again, and --reason / --since select.
    """
    topic = f"kyc.replay.{uuid.uuid4().hex[:6]}"
    dlq = topic + ".dlq"
    kafka.create_topic(topic, partitions=3)
    kafka.create_topic(dlq, partitions=2)
    old, new = datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 5, tzinfo=UTC)

    def payload(submission: str) -> bytes:
        return orjson.dumps({"webhook_trigger": "approved", "submission_id": submission})

    def letter(body: bytes, reason: str, received_at: datetime) -> Event:
        return build_dead_letter(
            body, reason=reason, detail="t", project="default", received_at=received_at, request={}
        )

    letters = [
        letter(orjson.dumps({"data": crypto.encrypt(payload("sub_a"), "rotated-key-2")}),
               "decryption_failed", new),
        letter(b"never json", "invalid_json", new),
        letter(payload("sub_c"), "schema_validation_failed", old),
        letter(orjson.dumps({"data": crypto.encrypt(payload("sub_d"), "unknown-key-9")}),
               "decryption_failed", old),
    ]  # fmt: skip
    asyncio.run(_produce_dead_letters(kafka.bootstrap, dlq, letters))
    env = {
        "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "BRIDGE_TOPIC": topic,
        "BRIDGE_DLQ_TOPIC": dlq,
        "BRIDGE_ARGOS_API_KEYS": "old-key-1,rotated-key-2",
    }

    def replay(*args: str) -> dict[str, Any]:
        result = kyc_bridge("dlq", "replay", *args, env=env)
        assert 0 == result.returncode, result.stderr.decode()
        assert b"dlq replay: " in result.stderr  # progress lines (stderr is not a terminal)
        summary: dict[str, Any] = orjson.loads(result.stdout)
        assert "kyc-bridge.dlq-replay" == summary["group"]
        return summary

    def counts(summary: dict[str, Any]) -> tuple[int, int, int, dict[str, int]]:
        return summary["read"], summary["replayed"], summary["skipped"], summary["failed"]

    still_failing = {"decryption_failed": 1, "invalid_json": 1}
    assert (4, 2, 0, still_failing) == counts(replay("--dry-run"))
    assert 0 == asyncio.run(_topic_size(kafka.bootstrap, topic))
    assert {} == asyncio.run(_committed(kafka.bootstrap, "kyc-bridge.dlq-replay", dlq))

    first = replay()
    assert (4, 2, 0, still_failing) == counts(first)
    assert {"invalid_json", "decryption_failed"} == {f["code"] for f in first["failures"]}
    assert {0: 2, 1: 2} == asyncio.run(_committed(kafka.bootstrap, "kyc-bridge.dlq-replay", dlq))
    assert (0, 0, 0, {}) == counts(replay())
    records = asyncio.run(read_topic(kafka.bootstrap, topic, min_count=2))
    assert [b"sub_a", b"sub_c"] == sorted(r.key or b"" for r in records)
    assert 2 == asyncio.run(_topic_size(kafka.bootstrap, topic))
    factory = EventFactory(load_registry())
    expected_ids = {
        factory.build(orjson.loads(payload(s)), project="default", received_at=at,
                      encrypted=encrypted).event_id.encode()
        for s, at, encrypted in (("sub_a", new, True), ("sub_c", old, False))
    }  # fmt: skip
    assert expected_ids == {r.headers["ce_id"] for r in records}

    assert (4, 2, 0, still_failing) == counts(replay("--from-beginning"))
    assert 4 == asyncio.run(_topic_size(kafka.bootstrap, topic))
    selected = replay("--from-beginning", "--reason", "decryption_failed", "--since", "2026-01-01")
    assert (4, 1, 3, {}) == counts(selected)
    assert 5 == asyncio.run(_topic_size(kafka.bootstrap, topic))


@pytest.mark.kafka
def test_dlq_replay_needs_exactly_the_readme_acls(brokers: BrokerPool) -> None:
    """
    With the README's ACLs (Write on both topics, Read and Write on the state topic, which
    the replay reads to judge staleness and writes the replayed results' state to; Read on
    the DLQ and on the group kyc-bridge.dlq-replay) on a broker with Kafka's
    StandardAuthorizer, `dlq replay` republishes, records the state and commits; without
    Read on the group it fails with exit 1.
    """
    broker = brokers.start(
        f"acl-cli-{uuid.uuid4().hex[:6]}",
        sasl_port=0,
        plain_users={"kyc-bridge": "bridge-secret"},
        extra_overrides={
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": "User:ANONYMOUS",
            "auto.create.topics.enable": "false",
        },
    )
    topic, dlq, state = "kyc.events.v1", "kyc.events.dlq.v1", "kyc.state.v1"
    broker.create_topic(topic, 3)
    broker.create_topic(dlq, 2)
    asyncio.run(broker.acreate_topic(state, partitions=3, configs={"cleanup.policy": "compact"}))
    body = orjson.dumps({"webhook_trigger": "approved", "submission_id": "sub_acl"})
    letter = build_dead_letter(
        body, reason="schema_validation_failed", detail="t", project="default",
        received_at=datetime(2026, 1, 5, tzinfo=UTC), request={},
    )  # fmt: skip
    asyncio.run(_produce_dead_letters(broker.bootstrap, dlq, [letter]))
    env = {
        "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": broker.sasl_bootstrap,
        "BRIDGE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "BRIDGE_KAFKA_SASL_MECHANISM": "PLAIN",
        "BRIDGE_KAFKA_SASL_USERNAME": "kyc-bridge",
        "BRIDGE_KAFKA_SASL_PASSWORD": "bridge-secret",
        "BRIDGE_KAFKA_REQUEST_TIMEOUT_MS": "5000",
    }

    async def grant(*acls: tuple[str, str, str]) -> None:
        for acl in acls:
            await allow(broker, "User:kyc-bridge", *acl)

    asyncio.run(
        grant(
            ("Write", "topic", topic),
            ("Write", "topic", dlq),
            ("Write", "topic", state),
            ("Read", "topic", state),
            ("Read", "topic", dlq),
        )
    )
    denied = kyc_bridge("dlq", "replay", env=env)
    assert 1 == denied.returncode, denied.stderr.decode()
    assert b"kyc-bridge: kafka error: GroupAuthorizationFailedError" in denied.stderr
    assert 0 == asyncio.run(_topic_size(broker.bootstrap, topic))

    asyncio.run(grant(("Read", "group", "kyc-bridge.dlq-replay")))
    allowed = kyc_bridge("dlq", "replay", env=env)
    assert 0 == allowed.returncode, allowed.stderr.decode()
    assert 1 == orjson.loads(allowed.stdout)["replayed"]
    assert {0: 1} == asyncio.run(_committed(broker.bootstrap, "kyc-bridge.dlq-replay", dlq))
    assert 1 == asyncio.run(_topic_size(broker.bootstrap, topic))
    assert 1 == asyncio.run(_topic_size(broker.bootstrap, state))


@pytest.mark.kafka
def test_dlq_replay_exit_codes(kafka: Broker) -> None:
    """A missing DLQ topic is an error (exit 1); bad arguments exit 2; nothing is replayed."""
    env = {
        "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "BRIDGE_DLQ_TOPIC": f"kyc.missing.{uuid.uuid4().hex[:6]}",
    }
    missing = kyc_bridge("dlq", "replay", env=env)
    assert 1 == missing.returncode
    assert b"BRIDGE_DLQ_TOPIC" in missing.stderr
    assert b"" == missing.stdout
    for bad in (["--reason", "no_such_reason"], ["--since", "2026-01-01T00:00:00"]):
        assert 2 == kyc_bridge("dlq", "replay", *bad, env=env).returncode


@pytest.mark.kafka
def test_spool_drain_publishes_the_backlog(brokers: BrokerPool, tmp_path: Path) -> None:
    """Events spooled while no broker existed are published by `spool drain`, in order."""
    port = free_port()
    topic = f"kyc.drain.{uuid.uuid4().hex[:6]}"
    env = {
        "BRIDGE_AUTH_TOKENS": TOKEN,
        "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
        "BRIDGE_TOPIC": topic,
        "BRIDGE_PUBLISH_DEADLINE_MS": "50",
    }
    bridge = BridgeProcess(tmp_path / "bridge", env)
    bridge.start(wait="/readyz")
    for i in range(5):
        body = orjson.dumps({"webhook_trigger": "updated", "submission_id": "s", "x_step": i})
        request = urllib.request.Request(
            f"{bridge.url}/webhooks/argos/{TOKEN}", data=body, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert 202 == response.status
    bridge.stop()
    spool_env = {**env, "BRIDGE_SPOOL_DIR": str(tmp_path / "bridge" / "spool")}
    status = kyc_bridge("spool", "status", env=spool_env)
    assert 5 == orjson.loads(status.stdout)["events"]

    broker = brokers.new(f"drain-{uuid.uuid4().hex[:6]}", port=port)
    broker.start()
    broker.create_topic(topic, partitions=3)
    result = kyc_bridge("spool", "drain", "--timeout", "60", env=spool_env)
    assert 0 == result.returncode, result.stderr.decode()
    assert {"remaining": 0} == orjson.loads(result.stdout)
    records = asyncio.run(read_topic(broker.bootstrap, topic, min_count=5))
    assert [0, 1, 2, 3, 4] == [orjson.loads(r.value or b"{}")["raw"]["x_step"] for r in records]


@pytest.mark.kafka
def test_cli_in_a_second_terminal_sees_the_running_make_run(kafka: Broker, tmp_path: Path) -> None:
    """
    `source .cache/dev.env && .venv/bin/kyc-bridge spool status`, with no webhook token in
    the environment, reads the spool of the bridge that `make run` (scripts/run-dev.sh) is
    serving with, while it serves.
    """
    root = Path(__file__).resolve().parents[2]
    venv_bin = Path(sys.executable).parent
    dev_dir, port = tmp_path / "dev", free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "BIN": str(venv_bin),
        "KYC_DEV_DIR": str(dev_dir),
        "BRIDGE_HTTP_PORT": str(port),
        "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "BRIDGE_SHUTDOWN_GRACE_S": "5",
    }
    with (tmp_path / "run-dev.log").open("wb") as log:
        run = subprocess.Popen(
            [str(root / "scripts" / "run-dev.sh")],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"http://127.0.0.1:{port}/readyz"):
            assert run.poll() is None, (tmp_path / "run-dev.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "run-dev.log").read_text()
            time.sleep(0.2)
        token = (dev_dir / "dev-token").read_text().strip()
        body = orjson.dumps({"webhook_trigger": "submit", "submission_id": "sub_second_tty"})
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/webhooks/argos/{token}", data=body, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status in (200, 202)

        def status() -> dict[str, Any]:
            result = subprocess.run(
                ["bash", "-c", 'source "$1" && exec "$2" spool status', "_",
                 str(dev_dir / "dev.env"), str(venv_bin / "kyc-bridge")],
                env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
                capture_output=True, timeout=60, check=False,
            )  # fmt: skip
            assert 0 == result.returncode, result.stderr.decode()
            found: dict[str, Any] = orjson.loads(result.stdout)
            return found

        shown = status()
        deadline = time.monotonic() + 10
        while shown["events"] + shown["delivered_entries"] < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
            shown = status()
        assert str(dev_dir / "dev-spool") == str(Path(shown["path"]).parent)
        assert 1 == shown["events"] + shown["delivered_entries"]
        assert _answers(f"http://127.0.0.1:{port}/readyz")  # still serving
    finally:
        os.killpg(run.pid, signal.SIGINT)
        try:
            run.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(10)


def _answers(url: str) -> bool:
    """Whether `url` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
