"""
The broker JVM as an OS process: launched in its own process group, found again through
`broker.pid` by a later CLI call, signalled as a group, and reaped.

JVMs launched attached (the default, as in tests) are SIGKILLed when this Python process
exits, so no test leaks a broker; `kafkactl.py up` launches detached so the dev broker
outlives it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from kafkactl.workdir import BrokerDir

__all__ = ["BrokerProcess", "is_broker_process"]

_attached: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_attached() -> None:
    for proc in list(_attached):
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)


def is_broker_process(pid: int, properties: Path) -> bool:
    """Return True if `pid` is a live (not zombie) `kafka.Kafka <properties>` JVM."""
    proc_dir = Path("/proc") / str(pid)
    if not Path("/proc/self").exists():  # no procfs: best effort
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        stat = (proc_dir / "stat").read_text()
        argv = (proc_dir / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    if state in ("Z", "X"):
        return False
    return b"kafka.Kafka" in argv and str(properties).encode() in argv


class BrokerProcess:
    """The JVM of one broker work directory: ours if we launched it, else the one in broker.pid."""

    def __init__(self, workdir: BrokerDir) -> None:
        self._dir = workdir
        self._proc: subprocess.Popen[bytes] | None = None

    def launch(self, cmd: list[str], *, detached: bool) -> None:
        """Start `cmd` in a new session with its output appended to broker.log."""
        with self._dir.log_path.open("ab") as log:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._dir.path,
                start_new_session=True,
            )
        self._dir.pid_path.write_text(f"{self._proc.pid}\n")
        if not detached:
            _attached.add(self._proc)

    @property
    def pid(self) -> int | None:
        """Return the PID of the running JVM (ours, or the one in broker.pid), else None."""
        if self._proc is not None:
            return self._proc.pid if self._proc.poll() is None else None
        try:
            pid = int(self._dir.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if is_broker_process(pid, self._dir.properties_path) else None

    @property
    def returncode(self) -> int | None:
        """Return the exit code of the JVM we launched (None while running or if not ours)."""
        return self._proc.poll() if self._proc is not None else None

    def terminate(self, timeout: float) -> bool:
        """
        SIGTERM the JVM (controlled shutdown), wait up to `timeout`, then SIGKILL.

        Return True if it stopped cleanly within the time (False if it was not running).
        """
        pid = self.pid
        if pid is None:
            self._forget()
            return False
        self._signal(pid, signal.SIGTERM)
        clean = self._wait_exit(pid, timeout)
        if not clean:
            self._signal(pid, signal.SIGKILL)
            self._wait_exit(pid, 30)
        elif self._proc is not None:
            clean = self._proc.returncode in (0, 128 + signal.SIGTERM)
        self._forget()
        return clean

    def kill(self) -> None:
        """SIGKILL the JVM (crash simulation) and reap it."""
        pid = self.pid
        if pid is not None:
            self._signal(pid, signal.SIGKILL)
            self._wait_exit(pid, 30)
        self._forget()

    def _signal(self, pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        if self._proc is not None:
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while is_broker_process(pid, self._dir.properties_path):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _forget(self) -> None:
        if self._proc is not None:
            self._proc.poll()
            _attached.discard(self._proc)
        self._dir.pid_path.unlink(missing_ok=True)
