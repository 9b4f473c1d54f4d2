"""
Build the kyc-bridge image with podman and run it, for the `container` tests.

The engine is installed on demand by scripts/container-deps.sh (apt-get, as root).
The flags are the ones that work on machines where crun refuses hybrid cgroups
and RLIMIT_NOFILE cannot be raised: runc with cgroupfs, explicit ulimits, and
the host network (the suite's brokers listen on 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.bridge_proc import free_port, wait_ready

__all__ = [
    "ENGINE_TOOLS",
    "PODMAN",
    "REPO_ROOT",
    "SPOOL_DIR",
    "BridgeContainer",
    "BuildResult",
    "ContainerError",
    "build_image",
    "clean_copy",
    "engine_unavailable_reason",
    "install_engine",
    "podman",
    "standin_base_image",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts"
PODMAN = ("podman", "--runtime", "runc", "--cgroup-manager=cgroupfs")
LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
SPOOL_DIR = "/var/lib/kyc-bridge/spool"  # the image's VOLUME
ENGINE_TOOLS = ("podman", "runc", "debootstrap")


class ContainerError(RuntimeError):
    """A podman command failed; the message carries its command line and output."""


def podman(*args: str, timeout: float = 120.0, check: bool = True) -> str:
    """
    Run `podman <args>` with this machine's runtime flags and return its stdout.

    Raises ContainerError when it exits non-zero (with `check`) or runs out of time.
    """
    command = [*PODMAN, *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ContainerError(f"{' '.join(command)}: no answer in {timeout} s") from exc
    if check and done.returncode != 0:
        output = done.stdout[-2000:] + done.stderr[-3000:]
        raise ContainerError(f"{' '.join(command)}: exit {done.returncode}\n{output}")
    return done.stdout


def engine_unavailable_reason() -> str | None:
    """
    Why the container tests cannot run here: None when podman, runc and debootstrap
    are installed or can be (root with apt-get), as scripts/container-deps.sh decides.
    """
    missing = [tool for tool in ENGINE_TOOLS if shutil.which(tool) is None]
    if not missing or (os.geteuid() == 0 and shutil.which("apt-get")):
        return None
    return (
        f"no container engine: {', '.join(missing)} not installed, and installing "
        "(scripts/container-deps.sh: apt-get install podman runc debootstrap) needs root"
    )


def install_engine() -> None:
    """
    Install podman, runc and debootstrap when missing (scripts/container-deps.sh).

    Raises ContainerError when the installation fails.
    """
    _script("container-deps.sh", timeout=900)


def standin_base_image() -> str:
    """
    The Debian bookworm stand-in for python:3.11-slim, built once (scripts/container-base.sh).

    Raises ContainerError when debootstrap or the import fails.
    """
    return _script("container-base.sh", timeout=1200).strip()


def _script(name: str, *, timeout: float, env: Mapping[str, str] | None = None) -> str:
    command = [str(SCRIPTS / name)]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, **(env or {})},
        )
    except subprocess.TimeoutExpired as exc:
        raise ContainerError(f"{name}: no result in {timeout} s") from exc
    if done.returncode != 0:
        raise ContainerError(f"{name}: exit {done.returncode}\n{done.stderr[-4000:]}")
    return done.stdout


@dataclass(frozen=True)
class BuildResult:
    """The outcome of `scripts/build-image.sh` on a clean copy of the repository."""

    tag: str
    returncode: int
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def inspect(self) -> dict[str, Any]:
        """`podman image inspect` of the built image (the first and only entry)."""
        (entry,) = json.loads(podman("image", "inspect", self.tag))
        assert isinstance(entry, dict)
        return entry


def clean_copy(destination: Path) -> Path:
    """
    Copy the repository's tracked files (as they are in the work tree) to `destination`.

    Untracked and ignored files (.venv, .cache, spools, a local deploy/.env) stay
    behind, so the build sees what a fresh clone would. Outside a git work tree the
    repository itself is returned: its .dockerignore is an allow-list.
    """
    try:
        listed = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "ls-files", "-z"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return REPO_ROOT
    for name in filter(None, listed.decode().split("\0")):
        source = REPO_ROOT / name
        target = destination / name
        if source.is_symlink():  # as git checks it out (bridge/_schemas -> ../schemas)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(os.readlink(source))
        elif source.is_file():  # a tracked file deleted in the work tree is not copied
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def build_image(context: Path, tag: str, base_image: str) -> BuildResult:
    """Build deploy/Dockerfile from `context` with scripts/build-image.sh; never raises."""
    started = time.monotonic()
    done = subprocess.run(
        [str(SCRIPTS / "build-image.sh")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # the build's steps and errors in order
        text=True,
        timeout=1200,
        check=False,
        env={
            **os.environ,
            "CONTAINER_ENGINE": "podman",
            "CONTEXT": str(context),
            "IMAGE": tag,
            "BASE_IMAGE": base_image,
        },
    )
    return BuildResult(tag, done.returncode, done.stdout, time.monotonic() - started)


@dataclass
class BridgeContainer:
    """
    One `kyc-bridge serve` container on the host network, hardened like the
    Kubernetes example (read-only root filesystem, no capabilities).
    """

    image: str
    env: dict[str, str]
    volume: str | None = None  # a named volume for the spool; None: an anonymous one
    port: int = field(default_factory=free_port)
    name: str = field(default_factory=lambda: f"kyc-bridge-test-{uuid.uuid4().hex[:10]}")
    entrypoint: Sequence[str] = ()  # replaces `kyc-bridge serve` when given

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: str | None = "/livez", timeout: float = 60.0) -> None:
        """
        Create and start the container, then wait until `wait` answers 200.

        Raises ContainerError when it cannot start, exits, or is not ready in time.
        """
        env = {"BRIDGE_HTTP_HOST": "127.0.0.1", "BRIDGE_HTTP_PORT": str(self.port), **self.env}
        args = ["run", "--detach", "--name", self.name, "--network", "host", *LIMITS]
        args += ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
        args += [arg for name, value in env.items() for arg in ("--env", f"{name}={value}")]
        if self.volume is not None:
            args += ["--volume", f"{self.volume}:{SPOOL_DIR}"]
        if self.entrypoint:
            args += ["--entrypoint", json.dumps(list(self.entrypoint[:1]))]
            podman(*args, self.image, *self.entrypoint[1:])
        else:
            podman(*args, self.image)
        if wait is None:
            return

        def gone() -> str | None:
            if self.state()["Status"] == "running":
                return None
            return f"{self.name} exited early:\n{self.logs()[-3000:]}"

        try:
            ready = wait_ready(self.url + wait, timeout, gone)
        except RuntimeError as exc:
            raise ContainerError(str(exc)) from None
        if not ready:
            raise ContainerError(f"{self.name} not ready:\n{self.logs()[-3000:]}")

    def state(self) -> dict[str, Any]:
        """`.State` of `podman container inspect` (Status, ExitCode, Health, ...)."""
        (entry,) = json.loads(podman("container", "inspect", self.name))
        state: dict[str, Any] = entry["State"]
        return state

    def exec(self, *command: str) -> str:
        """Run `command` inside the container (as its user) and return its stdout."""
        return podman("exec", self.name, *command)

    def kill(self) -> int:
        """SIGKILL the container and return its exit code."""
        podman("kill", "--signal", "KILL", self.name)
        return self.wait()

    def stop(self, grace_s: float) -> int:
        """
        Send the image's STOPSIGNAL, SIGKILL it if still running after `grace_s`,
        and return the exit code (137 if it had to be killed).
        """
        podman("stop", "--time", str(int(grace_s)), self.name, timeout=grace_s + 60)
        return self.wait()

    def wait(self) -> int:
        """The exit code, once the container has stopped."""
        return int(podman("wait", self.name).strip())

    def healthcheck(self) -> subprocess.CompletedProcess[str]:
        """`podman healthcheck run`: exit 0 healthy, 1 unhealthy."""
        return subprocess.run(
            [*PODMAN, "healthcheck", "run", self.name],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def logs(self) -> str:
        """Everything the container wrote (stdout and stderr)."""
        done = subprocess.run(
            [*PODMAN, "logs", self.name], capture_output=True, text=True, timeout=60, check=False
        )
        return done.stdout + done.stderr

    def remove(self) -> None:
        """Remove the container and its anonymous volumes (never a named one)."""
        podman("rm", "--force", "--time", "0", "--volumes", self.name, check=False)
