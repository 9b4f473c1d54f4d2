"""
scripts/run-dev.sh (`make run`): your own cluster needs no Java or Maven, the dev broker it
starts is stopped on Ctrl-C (one started before is left running), it listens on 127.0.0.1,
and it leaves its settings in dev.env for the CLI in another terminal.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from tests.kafka.clients import describe_topic, port_open
from tests.support.broker import KAFKACTL_PATH, Broker, pick_free_port, probe_metadata

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "run-dev.sh"
VENV_BIN = Path(sys.executable).parent  # the .venv/bin that runs the tests (kyc-bridge too)


@dataclass
class DevRun:
    """One `run-dev.sh` in its own process group, output in `log`."""

    process: subprocess.Popen[bytes]
    log: Path
    dev_dir: Path
    http_port: int

    def wait_serving(self, timeout: float = 60) -> None:
        """Wait until the bridge answers /livez; fail with the script's output if it exits."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.http_port}/livez"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"run-dev.sh exited {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        pytest.fail(f"the bridge did not serve within {timeout}s:\n{self.output()}")

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C: SIGINT to the whole process group, as a terminal does; return the exit code."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def dev_env(self) -> dict[str, str]:
        """The `export NAME=value` lines of dev.env, as bash reads them."""
        exports = {}
        for line in (self.dev_dir / "dev.env").read_text().splitlines():
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                (exports[name],) = shlex.split(value)
        return exports


class StartDevRun(Protocol):
    """Start run-dev.sh (or `command`, e.g. `make run`) with extra environment."""

    def __call__(self, env: dict[str, str], *, command: tuple[str, ...] = ...) -> DevRun: ...


@pytest.fixture(name="start_dev_run")
def _start_dev_run(tmp_path: Path) -> Iterator[StartDevRun]:
    """Start run-dev.sh with extra environment; every run is ended (SIGKILL) after the test."""
    runs: list[DevRun] = []

    def start(env: dict[str, str], *, command: tuple[str, ...] = (str(SCRIPT),)) -> DevRun:
        http_port = pick_free_port()
        dev_dir = tmp_path / f"dev-{len(runs)}"
        log = tmp_path / f"run-dev-{len(runs)}.log"
        full_env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "BIN": str(VENV_BIN),
            "KYC_DEV_DIR": str(dev_dir),
            "BRIDGE_HTTP_PORT": str(http_port),
            "BRIDGE_SHUTDOWN_GRACE_S": "5",
            **env,
        }
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        run = DevRun(process, log, dev_dir, http_port)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.process.poll() is None:
            os.killpg(run.process.pid, signal.SIGKILL)
            run.process.wait(30)


def _kafkactl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(KAFKACTL_PATH), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


def _path_without_java(tmp_path: Path) -> str:
    """A PATH holding only the tools `make run` uses: no java, no mvn."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("make", "bash", "cat", "dirname", "mkdir"):
        found = shutil.which(tool)
        assert found is not None
        (tools / tool).symlink_to(found)
    assert (None, None) == (shutil.which("java", path=tools), shutil.which("mvn", path=tools))
    return str(tools)


def test_make_run_does_not_fetch_the_broker() -> None:
    """`make run` leaves fetching the broker to run-dev.sh, which skips it for your cluster."""
    dry_run = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert ("kafkactl" in dry_run.stdout, "scripts/run-dev.sh" in dry_run.stdout) == (False, True)


@pytest.mark.kafka
def test_own_cluster_needs_neither_java_nor_maven(
    kafka: Broker, tmp_path: Path, start_dev_run: StartDevRun
) -> None:
    """With BRIDGE_KAFKA_BOOTSTRAP_SERVERS set, `make run` serves with no java or mvn at all."""
    kafkactl_home = tmp_path / "kafka"
    run = start_dev_run(
        {
            "PATH": _path_without_java(tmp_path),
            "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "KAFKACTL_DEV_WORKDIR": str(kafkactl_home),
        },
        command=("make", "--no-print-directory", "run"),
    )
    run.wait_serving()

    assert {
        "BRIDGE_SPOOL_DIR": str(run.dev_dir / "dev-spool"),
        "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "BRIDGE_TOPIC": "kyc.events.v1",
        "BRIDGE_DLQ_TOPIC": "kyc.events.dlq.v1",
        "BRIDGE_HTTP_HOST": "127.0.0.1",
        "BRIDGE_HTTP_PORT": str(run.http_port),
    } == run.dev_env()
    token = (run.dev_dir / "dev-token").read_text().strip()
    assert token not in (run.dev_dir / "dev.env").read_text()
    assert 0o600 == (run.dev_dir / "dev-token").stat().st_mode & 0o777
    output = run.output()
    assert f"source {run.dev_dir}/dev.env" in output
    assert '"http.listening"' in output
    assert '"host": "127.0.0.1"' in output or '"host":"127.0.0.1"' in output
    assert not kafkactl_home.exists()  # no dev broker was even looked for

    run.interrupt()  # make's own exit code after SIGINT is make's business
    assert not port_open(run.http_port)
    assert "bridge.stopped" in run.output()


@pytest.mark.kafka
@pytest.mark.slow
async def test_dev_broker_started_by_the_run_is_stopped_on_ctrl_c(
    tmp_path: Path, start_dev_run: StartDevRun
) -> None:
    """Without a cluster: a dev broker starts with the topics; Ctrl-C stops bridge and broker."""
    port = pick_free_port()
    env = {"KAFKACTL_DEV_WORKDIR": str(tmp_path / "kafka"), "KAFKACTL_DEV_PORT": str(port)}
    run = start_dev_run(env)
    run.wait_serving(timeout=120)

    bootstrap = f"127.0.0.1:{port}"
    assert bootstrap == run.dev_env()["BRIDGE_KAFKA_BOOTSTRAP_SERVERS"]
    assert 3 == (await describe_topic(bootstrap, "kyc.events.v1"))[0]
    assert 1 == (await describe_topic(bootstrap, "kyc.events.dlq.v1"))[0]

    assert 0 == run.interrupt()
    assert "stopping the dev broker this run started" in run.output()
    assert (False, False) == (port_open(port), port_open(run.http_port))


@pytest.mark.kafka
@pytest.mark.slow
def test_dev_broker_started_before_keeps_running(
    tmp_path: Path, start_dev_run: StartDevRun
) -> None:
    """A dev broker that `make kafka-up` started is left running, with how to stop it."""
    port = pick_free_port()
    env = {"KAFKACTL_DEV_WORKDIR": str(tmp_path / "kafka"), "KAFKACTL_DEV_PORT": str(port)}
    assert 0 == _kafkactl("up", env=env).returncode
    try:
        run = start_dev_run(env)
        run.wait_serving(timeout=120)
        assert 0 == run.interrupt()
        assert "stop it with: make kafka-down" in run.output()
        probe_metadata(port)  # still serving
    finally:
        assert 0 == _kafkactl("down", env=env).returncode
