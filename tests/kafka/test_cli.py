"""The command line, `python deploy/kafka/kafkactl.py` (kafkactl.cli)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kafka.clients import port_open
from tests.support.broker import KAFKACTL_PATH, kafkactl, pick_free_port, probe_metadata


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(KAFKACTL_PATH), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("argv", "expected_code"),
    [
        pytest.param(["--help"], 0, id="help"),
        pytest.param(["up", "--port", "not-a-number"], 1, id="usage-error"),
        pytest.param(["no-such-command"], 1, id="unknown-command"),
    ],
)
def test_exit_codes_of_usage(argv: list[str], expected_code: int) -> None:
    """--help exits 0; usage errors exit 1 like every other failure."""
    assert expected_code == kafkactl.main(argv)


def test_status_without_a_broker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`status` on a work dir without a broker exits 1, says so, and prints no address."""
    assert 1 == kafkactl.main(["status", "--workdir", str(tmp_path / "none")])
    out, err = capsys.readouterr()
    assert ("", True) == (out, "not running" in err)


@pytest.mark.kafka
def test_cli_up_status_down(tmp_path: Path) -> None:
    """`up` prints the bootstrap and is idempotent; `status` and `down` follow the broker."""
    workdir, port = tmp_path / "dev", pick_free_port()
    # The dev broker's place may come from the environment, as `make run` sets it for tests.
    env = {"KAFKACTL_DEV_WORKDIR": str(workdir), "KAFKACTL_DEV_PORT": str(port)}

    up = _cli("up", env=env)
    try:
        assert (0, f"127.0.0.1:{port}\n") == (up.returncode, up.stdout), up.stderr
        probe_metadata(port)
        again = _cli("up", "--workdir", str(workdir), "--port", str(port))
        assert (0, f"127.0.0.1:{port}\n") == (again.returncode, again.stdout)
        assert "already running" in again.stderr
        assert 0 == _cli("status", env=env).returncode
    finally:
        down = _cli("down", "--workdir", str(workdir))
    assert 0 == down.returncode, down.stderr
    assert not port_open(port)
    status = _cli("status", env=env)
    assert (1, "") == (status.returncode, status.stdout)
    assert "not running" in status.stderr
