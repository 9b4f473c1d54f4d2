"""
The kyc-bridge image, built from a clean copy of the repository and run against
the suite's real Kafka brokers: it builds, carries nothing but the runtime,
stores webhooks in Kafka, runs unprivileged, keeps its spool on a volume across
a SIGKILL, stops cleanly on SIGTERM, and its HEALTHCHECK works.

The image builds on the Debian bookworm stand-in for python:3.11-slim
(scripts/container-base.sh): no container registry is reachable here.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import aiohttp
import orjson
import pytest

from tests.deploy.container import BridgeContainer, BuildResult, podman
from tests.support.bridge_proc import read_topic
from tests.support.broker import Broker, BrokerPool

pytestmark = [
    pytest.mark.container,
    pytest.mark.kafka,
    pytest.mark.slow,
    pytest.mark.timeout(1800),  # the first test pays for installing podman and the base
]

TOKEN = "container-test-token-0001"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
UID = 10001  # the image's USER, and runAsUser in deploy/kubernetes
SHUTDOWN_GRACE_S = 20.0  # the bridge's default BRIDGE_SHUTDOWN_GRACE_S

#: What the image must not carry, listed from inside it by its own Python (whose
#: sys.path is /app and the /opt/venv site-packages: the base's own pip is not in it).
INVENTORY = """
import importlib.util, json, os, shutil, sys
tools = ["gcc", "cc", "c++", "g++", "clang", "ld", "make"]
paths = ["/root/.cache", "/src", "/wheels", "/etc/pip.conf", "/run/secrets",
         "/app/tests", "/app/bench", "/app/docs", "/app/scripts"]
tops = [top for top in sys.path if top.startswith(("/app", "/opt/venv"))]
print(json.dumps({
    "tools": sorted(t for t in tools if shutil.which(t)),
    "paths": sorted(p for p in paths if os.path.lexists(p)),
    "test_dirs": sorted({root for top in tops for root, _, _ in os.walk(top)
                         if os.path.basename(root) in {"tests", "test"}}),
    "installers": sorted(m for m in ("pip", "setuptools") if importlib.util.find_spec(m)),
}))
"""


def _payload(submission: str) -> bytes:
    return orjson.dumps(
        {
            "webhook_trigger": "approved",
            "submission_id": submission,
            "kyc_result": {"status": "approved", "updated_at": "2026-11-25T10:00:00Z"},
        }
    )


def _env(bootstrap: str, topic: str) -> dict[str, str]:
    return {
        "BRIDGE_AUTH_TOKENS": TOKEN,
        "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "BRIDGE_TOPIC": topic,
        "BRIDGE_DLQ_TOPIC": topic + ".dlq",
        "BRIDGE_PUBLISH_DEADLINE_MS": "500",
        "BRIDGE_KAFKA_REQUEST_TIMEOUT_MS": "5000",
    }


async def _post(url: str, submission: str) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/webhooks/argos", data=_payload(submission), headers=HEADERS) as r,
    ):
        return r.status, await r.json()


async def _get(url: str, path: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.get(url + path) as r:
        return r.status, await r.json()


async def _spool_events(container: BridgeContainer) -> int:
    _, body = await _get(container.url, "/readyz")
    spool = body["spool"]
    assert isinstance(spool, dict)
    return int(spool["events"])


@dataclass
class Started:
    """Containers and named volumes a test created."""

    containers: list[BridgeContainer] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def container(
        self,
        image: str,
        env: dict[str, str],
        *,
        volume: str | None = None,
        entrypoint: Sequence[str] = (),
    ) -> BridgeContainer:
        """A new (not yet started) container that is removed after the test."""
        container = BridgeContainer(image, env, volume=volume, entrypoint=entrypoint)
        self.containers.append(container)
        return container

    def volume(self) -> str:
        """A new named volume that is removed after the test (after its containers)."""
        name = f"kyc-bridge-test-spool-{uuid.uuid4().hex[:8]}"
        podman("volume", "create", name)
        self.volumes.append(name)
        return name


@pytest.fixture(name="started")
def _started() -> Iterator[Started]:
    """Removes what the test started; the containers' logs are printed (shown on failure)."""
    started = Started()
    yield started
    for container in started.containers:
        print(f"--- {container.name}\n{container.logs()[-3000:]}")
        container.remove()
    for volume in started.volumes:
        podman("volume", "rm", "--force", volume, check=False)


@pytest.fixture(scope="module", name="topic")
def _topic(kafka: Broker) -> str:
    topic = f"kyc.container.{uuid.uuid4().hex[:8]}"
    kafka.create_topic(topic, partitions=3)
    kafka.create_topic(topic + ".dlq", partitions=1)
    return topic


@pytest.fixture(scope="module", name="bridge")
def _bridge(image: BuildResult, kafka: Broker, topic: str) -> Iterator[BridgeContainer]:
    """One bridge container on the shared broker, for the tests that only look at it."""
    container = BridgeContainer(image.tag, _env(kafka.bootstrap, topic))
    try:
        container.start(wait="/readyz")
        yield container
    finally:
        print(f"--- {container.name}\n{container.logs()[-3000:]}")
        container.remove()


def test_image_builds_from_a_clean_checkout(image_build: BuildResult) -> None:
    """deploy/Dockerfile builds from the tracked files alone; the build reports size and time."""
    assert 0 == image_build.returncode, image_build.output[-4000:]
    assert f"build-image: {image_build.tag}: " in image_build.output
    print(image_build.output.splitlines()[-1])


def test_image_carries_only_the_runtime(image: BuildResult, started: Started) -> None:
    """No compilers, installers, build caches, build secrets or test suites in the image."""
    container = started.container(image.tag, {}, entrypoint=("python", "-c", INVENTORY))
    container.start(wait=None)
    assert 0 == container.wait()
    inventory = json.loads(podman("logs", container.name))
    assert {"tools": [], "paths": [], "test_dirs": [], "installers": []} == inventory


async def test_webhook_is_stored_in_kafka_and_read_back(
    bridge: BridgeContainer, kafka: Broker, topic: str
) -> None:
    """A webhook to the container gets 200 `stored: kafka`, and the event is on the topic."""
    status, body = await _post(bridge.url, f"sub-{uuid.uuid4().hex[:8]}")
    assert (200, "kafka") == (status, body["stored"])
    records = await read_topic(
        kafka.bootstrap,
        topic,
        until=lambda rs: body["event_id"] in {r.headers["ce_id"].decode() for r in rs},
    )
    assert body["event_id"] in {r.headers["ce_id"].decode() for r in records}


async def test_readyz_is_200_with_kafka_connected(bridge: BridgeContainer) -> None:
    """/readyz answers 200 `ready` once the container's producer is connected."""
    status, body = await _get(bridge.url, "/readyz")
    assert (200, "ready", "connected") == (status, body["status"], body["kafka"])


def test_runs_as_the_unprivileged_user(bridge: BridgeContainer) -> None:
    """The bridge process (PID 1 of the container) runs as uid and gid 10001, not root."""
    status = bridge.exec("cat", "/proc/1/status")
    ids = {
        line.split(":")[0]: line.split()[1:]
        for line in status.splitlines()
        if line.startswith(("Uid:", "Gid:"))
    }
    assert {"Uid": [str(UID)] * 4, "Gid": [str(UID)] * 4} == ids


def test_healthcheck_reports_healthy(bridge: BridgeContainer, image: BuildResult) -> None:
    """The image keeps its HEALTHCHECK (built with --format docker) and it passes."""
    inspected = image.inspect()  # podman has it at the top level, docker in Config
    healthcheck = inspected.get("Healthcheck") or inspected["Config"].get("Healthcheck") or {}
    assert "/livez" in json.dumps(healthcheck.get("Test"))
    result = bridge.healthcheck()
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "healthy" == bridge.state()["Health"]["Status"]


def test_healthcheck_fails_when_the_bridge_does_not_answer(
    image: BuildResult, started: Started
) -> None:
    """The same HEALTHCHECK reports unhealthy when nothing answers on /livez."""
    container = started.container(
        image.tag, {}, entrypoint=("python", "-c", "import time; time.sleep(120)")
    )
    container.start(wait=None)
    result = container.healthcheck()
    # (the container's Status stays `starting` within the image's start period)
    assert (1, "unhealthy") == (result.returncode, result.stdout.strip())


async def test_sigterm_stops_within_the_grace_period_with_exit_0(
    image: BuildResult, kafka: Broker, topic: str, started: Started
) -> None:
    """
    After a webhook, `podman stop` (SIGTERM, SIGKILL only after the shutdown grace
    period) ends the container with exit code 0 and a `bridge.stopped` log line.
    """
    container = started.container(image.tag, _env(kafka.bootstrap, topic))
    container.start(wait="/readyz")
    status, _ = await _post(container.url, f"sub-{uuid.uuid4().hex[:8]}")
    assert 200 == status
    assert 0 == container.stop(grace_s=SHUTDOWN_GRACE_S)
    assert "bridge.stopped" in container.logs()


async def test_spool_volume_survives_sigkill_while_kafka_is_down(
    image: BuildResult, brokers: BrokerPool, started: Started
) -> None:
    """
    Kafka down, webhooks answered 202 into the spool volume, the container SIGKILLed;
    a new container on the same volume finds them and, once Kafka is back, publishes
    every event that was answered 2xx.
    """
    broker = brokers.start(f"container-spool-{uuid.uuid4().hex[:6]}")
    topic = "kyc.container.spool"
    broker.create_topic(topic, partitions=3)
    broker.create_topic(topic + ".dlq", partitions=1)
    volume = started.volume()
    first = started.container(image.tag, _env(broker.bootstrap, topic), volume=volume)
    first.start(wait="/readyz")
    status, body = await _post(first.url, "sub-before-outage")
    assert (200, "kafka") == (status, body["stored"])
    acked = [str(body["event_id"])]

    await asyncio.to_thread(broker.stop)
    spooled = [await _post(first.url, f"sub-outage-{i}") for i in range(5)]
    assert [(202, "spool")] * 5 == [(s, b["stored"]) for s, b in spooled]
    acked += [str(b["event_id"]) for _, b in spooled]
    assert 137 == first.kill()

    second = started.container(image.tag, _env(broker.bootstrap, topic), volume=volume)
    second.start(wait="/readyz")
    assert 5 == await _spool_events(second)

    await asyncio.to_thread(broker.restart)
    deadline = time.monotonic() + 120
    while await _spool_events(second) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert 0 == await _spool_events(second)
    records = await read_topic(
        broker.bootstrap,
        topic,
        min_count=len(acked),
        until=lambda rs: set(acked) <= {r.headers["ce_id"].decode() for r in rs},
    )
    assert set() == set(acked) - {r.headers["ce_id"].decode() for r in records}
