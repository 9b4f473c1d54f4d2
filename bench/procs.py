"""
The benchmark's child processes: the bridge and the ceilings (`Server`), and
`Sampler`, which measures the CPU and memory of a process together with all
its children with psutil.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson
import psutil

from bridge.types import JSONObject, JSONValue
from tests.support.bridge_proc import free_port

__all__ = [
    "API_KEY",
    "REPO",
    "Sampler",
    "Server",
    "Usage",
    "say",
    "start_bridge",
    "start_ceiling",
    "tree_rss_mb",
    "usage_json",
]

REPO = Path(__file__).resolve().parents[1]
#: the ARGOS API key of the bench's project (encrypts ~30 % of the bodies)
API_KEY = "kyc-bench-argos-api-key-7f3a1c"


def say(message: str) -> None:
    """Write progress to stderr (stdout is the report)."""
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


@dataclass
class Server:
    """A server child process (bridge or ceiling) listening on `port`."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        """GET `path`; (0, b"") when it does not answer."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (OSError, urllib.error.URLError):
            return 0, b""

    def readyz(self) -> tuple[int, JSONObject]:
        """Return /readyz's status and JSON body ((0, {}) when it does not answer)."""
        status, body = self.get("/readyz")
        if status == 0:
            return 0, {}
        with contextlib.suppress(orjson.JSONDecodeError):
            document = orjson.loads(body)
            if isinstance(document, dict):
                return status, document
        return status, {}

    def spool(self) -> tuple[int, int] | None:
        """Return the spool's (pending events, bytes) from /readyz, None if unreadable."""
        spool = self.readyz()[1].get("spool")
        if not isinstance(spool, dict):
            return None
        events, size = spool.get("events"), spool.get("bytes")
        return (events, size) if isinstance(events, int) and isinstance(size, int) else None

    def wait_ready(self, timeout: float = 120.0) -> None:
        """
        Wait until /livez answers 200.

        Raises:
            RuntimeError: the process exited or did not answer in time.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name} exited early:\n{tail}")
            if self.get("/livez")[0] == 200:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout:g}s; see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 60 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _spawn(
    name: str, cmd: list[str], env: dict[str, str], log_path: Path, port: int, *, wait: bool
) -> Server:
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
        )
    server = Server(name, process, port, log_path)
    if wait:
        server.wait_ready()
    return server


def _base_env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


def start_bridge(
    work: Path,
    run: str,
    *,
    bootstrap: str,
    topic: str,
    token: str,
    env: Mapping[str, str] | None = None,
    wait: bool = True,
) -> Server:
    """
    Start `kyc-bridge serve` with production settings: spool `work/spool-<run>`
    (kept across restarts of the same `run`), INFO logs to `work/bridge-<run>.log`,
    its own events, DLQ, state and data-key topics, plus `env` on top.

    Raises:
        RuntimeError: with `wait`, the bridge exited or did not answer /livez.
    """
    port = free_port()
    settings = _base_env() | {
        "BRIDGE_HTTP_HOST": "127.0.0.1",
        "BRIDGE_HTTP_PORT": str(port),
        "BRIDGE_SPOOL_DIR": str(work / f"spool-{run}"),
        "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "BRIDGE_TOPIC": topic,
        "BRIDGE_DLQ_TOPIC": f"{topic}.dlq",
        "BRIDGE_STATE_TOPIC": f"{topic}.state",
        "BRIDGE_PII_KEYS_TOPIC": f"{topic}.pii-keys",
        "BRIDGE_AUTH_TOKENS": token,
        "BRIDGE_ARGOS_API_KEYS": API_KEY,
        "BRIDGE_LOG_LEVEL": "INFO",
    }
    cmd = [sys.executable, "-m", "bridge", "serve"]
    log = work / f"bridge-{run}.log"
    return _spawn("bridge", cmd, settings | dict(env or {}), log, port, wait=wait)


def start_ceiling(work: Path, kind: str, bootstrap: str, topic: str) -> Server:
    """
    Start `python -m bench.ceilings KIND` on a free port.

    Raises:
        RuntimeError: it exited or did not answer /livez.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "bench.ceilings", kind, "--port", str(port)]
    cmd += ["--bootstrap", bootstrap, "--topic", topic]
    return _spawn(kind, cmd, _base_env(), work / f"{kind}.log", port, wait=True)


@dataclass(frozen=True, slots=True)
class Usage:
    """What one process tree used over a sampled window."""

    cpu_seconds: float
    wall_seconds: float
    peak_rss_mb: float

    @property
    def cpu_cores(self) -> float:
        """Return the cores used on average (1.0: one core)."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def as_json(self) -> JSONObject:
        """Return the usage as JSON."""
        return {
            "cpu_seconds": round(self.cpu_seconds, 3),
            "cpu_cores": round(self.cpu_cores, 2),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
        }


class _Tree:
    """A process and its descendants: CPU used since first seen, current and peak RSS."""

    def __init__(self, pid: int) -> None:
        self._root = psutil.Process(pid)
        self._members: list[psutil.Process] = [self._root]
        self._cpu: dict[int, tuple[float, float]] = {}  # pid -> (baseline, latest)
        self.rss = 0
        self.peak_rss = 0
        self.poll(refresh=True, first=True)

    def poll(self, *, refresh: bool, first: bool = False) -> None:
        """Sample every member; with `refresh`, look for new children first (~1 ms)."""
        if refresh:
            with contextlib.suppress(psutil.Error):  # gone: keep the members we know
                self._members = [self._root, *self._root.children(recursive=True)]
        rss, alive = 0, False
        for process in self._members:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    resident = process.memory_info().rss
            except psutil.Error:
                continue
            alive = True
            used = float(times.user + times.system)
            # a child first seen after the start was born inside the window: baseline 0
            baseline = self._cpu.get(process.pid, (used if first else 0.0, 0.0))[0]
            self._cpu[process.pid] = (baseline, used)
            rss += resident
        if alive:  # all gone (e.g. the broker was stopped): keep the last figures
            self.rss = rss
            self.peak_rss = max(self.peak_rss, rss)

    @property
    def cpu_seconds(self) -> float:
        """Return the CPU seconds all members used since first seen."""
        return sum(latest - baseline for baseline, latest in self._cpu.values())


class Sampler(threading.Thread):
    """
    CPU seconds (user+sys) and RSS of processes *with all their children*,
    sampled every `interval` seconds from construction to `finish()`; new
    children are looked for every `refresh_every` samples (that scan costs
    ~1 ms). A child that exits between two samples loses at most one interval
    of CPU; one that lives less than a refresh period may be missed.
    """

    def __init__(
        self, pids: Mapping[str, int | None], interval: float = 0.1, refresh_every: int = 10
    ) -> None:
        super().__init__(daemon=True)
        self._lock = threading.Lock()
        self._trees: dict[str, _Tree] = {}
        for name, pid in pids.items():
            if pid:
                with contextlib.suppress(psutil.Error):
                    self._trees[name] = _Tree(pid)
        self._interval = interval
        self._ticks = itertools.cycle(range(refresh_every))
        self._halt = threading.Event()
        self._t0 = time.monotonic()
        self.start()

    def run(self) -> None:
        """Sample until `finish()`."""
        while not self._halt.wait(self._interval):
            self._poll(refresh=next(self._ticks) == 0)

    def _poll(self, *, refresh: bool = True) -> None:
        with self._lock:
            for tree in self._trees.values():
                tree.poll(refresh=refresh)

    def cpu_seconds(self, name: str) -> float:
        """Return the CPU seconds `name` used since the start (sampled now)."""
        self._poll()
        with self._lock:
            tree = self._trees.get(name)
            return tree.cpu_seconds if tree is not None else 0.0

    def rss_mb(self, name: str) -> float:
        """Return `name`'s current RSS in MB (sampled now)."""
        self._poll()
        with self._lock:
            tree = self._trees.get(name)
            return tree.rss / 2**20 if tree is not None else 0.0

    def finish(self) -> dict[str, Usage]:
        """Stop sampling; the usage of every process tree since the start."""
        self._poll()
        wall = time.monotonic() - self._t0
        self._halt.set()
        self.join()
        with self._lock:
            return {
                name: Usage(tree.cpu_seconds, wall, tree.peak_rss / 2**20)
                for name, tree in self._trees.items()
            }


def usage_json(usage: Mapping[str, Usage]) -> JSONObject:
    """Return `Sampler.finish()`'s result as JSON."""
    found: dict[str, JSONValue] = {name: u.as_json() for name, u in usage.items()}
    return found


def tree_rss_mb(pid: int) -> float:
    """Return the RSS (MB) of `pid` and all its children now; 0.0 when it is gone."""
    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for process in members:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total / 2**20
