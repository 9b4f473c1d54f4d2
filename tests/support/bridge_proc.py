"""Run the real `kyc-bridge serve` as a child process, and read topics back."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.structs import TopicPartition

__all__ = ["BridgeProcess", "ConsumedRecord", "free_port", "read_topic", "wait_ready"]


def free_port() -> int:
    """Return a TCP port that is free right now on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float, gone: Callable[[], str | None]) -> bool:
    """
    Poll `url` until it answers 200 (True) or `timeout` passes (False).

    `gone()` returns why the server can no longer answer (it exited), or None; the
    reason is raised as RuntimeError.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (reason := gone()) is not None:
            raise RuntimeError(reason)
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    return False


@dataclass
class BridgeProcess:
    """A bridge child process; stdout+stderr go to `log_path` (appended across restarts)."""

    workdir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "bridge.log"

    def start(self, timeout: float = 30.0, *, wait: str = "/livez") -> None:
        """Start and wait until `wait` answers 200."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "BRIDGE_HTTP_HOST": "127.0.0.1",
            "BRIDGE_HTTP_PORT": str(self.port),
            "BRIDGE_SPOOL_DIR": str(self.workdir / "spool"),
            **self.env,
        }
        log = self.log_path.open("ab")
        self.process = process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

        def gone() -> str | None:
            if process.poll() is None:
                return None
            return f"bridge exited early:\n{self.log_path.read_text()[-3000:]}"

        if not wait_ready(self.url + wait, timeout, gone):
            raise RuntimeError(f"bridge not ready:\n{self.log_path.read_text()[-3000:]}")

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; return the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.process = None
        return code

    def kill(self) -> None:
        """SIGKILL (no cleanup at all)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        """Terminate if running (fixture teardown)."""
        if self.process is not None and self.process.poll() is None:
            try:
                self.terminate()
            except subprocess.TimeoutExpired:
                self.kill()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass(frozen=True)
class ConsumedRecord:
    """A record read back from Kafka."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    timestamp: int = -1  # ms: CreateTime, or LogAppendTime when the topic is set so


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    min_count: int = 1,
    timeout: float = 30.0,
    until: Callable[[list[ConsumedRecord]], bool] | None = None,
    **client: object,
) -> list[ConsumedRecord]:
    """
    Read `topic` from the start until at least `min_count` records have arrived and
    `until(records)` holds (or the timeout).
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,  # no group: every partition is assigned, nothing is committed
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=1000,
        **client,
    )
    await consumer.start()
    records: list[ConsumedRecord] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(records) >= min_count and (until is None or until(records)):
                break
            batch: dict[
                TopicPartition, list[ConsumerRecord[bytes, bytes]]
            ] = await consumer.getmany(timeout_ms=500)
            for items in batch.values():
                records.extend(
                    ConsumedRecord(
                        r.partition, r.offset, r.key, r.value, dict(r.headers), r.timestamp
                    )
                    for r in items
                )
    finally:
        await consumer.stop()
    return records
