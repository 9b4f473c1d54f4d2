"""scripts/create_topics.py: topic specs, and creating topics on a real broker."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.kafka.clients import describe_topic, unique_topic
from tests.support.broker import Broker

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "create_topics.py"


def _load_script() -> ModuleType:
    """Import scripts/create_topics.py (not a package) by path."""
    spec = importlib.util.spec_from_file_location("create_topics", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("create_topics", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


create_topics = _load_script()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("kyc.events.v1:3", ("kyc.events.v1", 3, {}), id="name-and-partitions"),
        pytest.param("kyc.events.dlq.v1", ("kyc.events.dlq.v1", 1, {}), id="one-by-default"),
        pytest.param(
            "kyc.state.v1:3:cleanup.policy=compact",
            ("kyc.state.v1", 3, {"cleanup.policy": "compact"}),
            id="compacted",
        ),
        pytest.param(
            "kyc.pii-keys.v1:6:cleanup.policy=compact,min.insync.replicas=2",
            ("kyc.pii-keys.v1", 6, {"cleanup.policy": "compact", "min.insync.replicas": "2"}),
            id="several-configs",
        ),
        pytest.param(
            "t:1:cleanup.policy=compact,delete,retention.ms=1000",
            ("t", 1, {"cleanup.policy": "compact,delete", "retention.ms": "1000"}),
            id="value-with-a-comma",
        ),
    ],
)
def test_parse_spec(text: str, expected: tuple[str, int, dict[str, str]]) -> None:
    """NAME[:PARTITIONS[:KEY=VALUE,...]] becomes a name, a partition count and configs."""
    spec: Any = create_topics.parse_spec(text)
    assert expected == (spec.name, spec.partitions, dict(spec.configs))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(":3", "bad topic name", id="no-name"),
        pytest.param("a b:3", "bad topic name", id="space-in-name"),
        pytest.param("t:0", "partitions", id="zero-partitions"),
        pytest.param("t:three", "partitions", id="word-partitions"),
        pytest.param("t:1:compact", "not KEY=VALUE", id="no-equals"),
        pytest.param("t:1:Cleanup.Policy=compact", "not KEY=VALUE", id="bad-key"),
        pytest.param("t:1:retention.ms=", "not KEY=VALUE", id="empty-value"),
        pytest.param("t:1:retention.ms=1,", "empty item", id="trailing-comma"),
    ],
)
def test_parse_spec_rejects(text: str, message: str) -> None:
    """A malformed spec raises ValueError that quotes it and says what is wrong."""
    with pytest.raises(ValueError, match=message) as caught:
        create_topics.parse_spec(text)
    assert repr(text) in str(caught.value)


def test_bad_spec_is_a_usage_error() -> None:
    """On the command line a malformed spec exits 2 before contacting any broker."""
    done = _run("--bootstrap", "127.0.0.1:1", "t:0")
    assert (2, True) == (done.returncode, "partitions must be" in done.stderr)


@pytest.mark.kafka
async def test_creates_compacted_topics_with_their_configs(kafka: Broker) -> None:
    """Missing topics are created with their partitions and configs; a rerun changes nothing."""
    events, state = unique_topic(), unique_topic()
    specs = [f"{events}:3", f"{state}:2:cleanup.policy=compact,min.compaction.lag.ms=60000"]

    first = _run("--bootstrap", kafka.bootstrap, *specs)
    assert 0 == first.returncode, first.stderr
    expected = f"created: {events} (3 partitions)\ncreated: {state} (2 partitions)\n"
    assert expected == first.stdout
    partitions, configs = await describe_topic(kafka.bootstrap, state)
    assert (2, "compact", "60000") == (
        partitions,
        configs["cleanup.policy"],
        configs["min.compaction.lag.ms"],
    )

    again = _run("--bootstrap", kafka.bootstrap, f"{events}:5", specs[1])
    assert 0 == again.returncode, again.stderr
    assert [
        f"exists: {events} (3 partitions) (asked for 5; partitions are never changed here)",
        f"exists: {state} (2 partitions)",
    ] == again.stdout.splitlines()


@pytest.mark.kafka
def test_a_refused_topic_exits_1_naming_it(kafka: Broker) -> None:
    """A config the broker refuses exits 1 with the topic's name and the broker's reason."""
    topic = unique_topic()
    done = _run("--bootstrap", kafka.bootstrap, f"{topic}:1:cleanup.policy=bogus")
    assert (1, "") == (done.returncode, done.stdout)
    assert f"create_topics: {topic}: Kafka error code 40" in done.stderr  # INVALID_CONFIG
