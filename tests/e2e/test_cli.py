"""The `kyc-bridge` command line, run as a real subprocess."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import orjson
import pytest

from bridge import crypto
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


def test_argos_encrypt_then_decrypt_round_trips() -> None:
    """`argos encrypt` builds an ARGOS body that `argos decrypt` (and the bridge) opens."""
    payload = b'{"webhook_trigger":"submit","submission_id":"s1"}'
    encrypted = kyc_bridge("argos", "encrypt", "--api-key", "k-123", stdin=payload)
    assert 0 == encrypted.returncode
    body = orjson.loads(encrypted.stdout)
    assert payload == crypto.decrypt(body["data"], ["k-123"])
    decrypted = kyc_bridge("argos", "decrypt", "--api-key", "k-123", stdin=encrypted.stdout)
    assert payload == decrypted.stdout.strip()
    wrong = kyc_bridge("argos", "decrypt", "--api-key", "nope", stdin=encrypted.stdout)
    assert 1 == wrong.returncode


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
    assert {"read": 1, "replayed": 1, "failed": {}} == orjson.loads(result.stdout)
    (record,) = asyncio.run(read_topic(kafka.bootstrap, topic, min_count=1))
    assert b"sub_replay" == record.key


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
