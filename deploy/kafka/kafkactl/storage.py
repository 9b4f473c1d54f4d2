"""
Format a broker's data dir (KRaft `StorageTool format`), once, with its SCRAM users.
"""

from __future__ import annotations

import base64
import secrets
import subprocess
import time
from pathlib import Path

from kafkactl.config import SCRAM_MECHANISMS, BrokerConfig, ListenerPorts
from kafkactl.errors import KafkaCtlError
from kafkactl.jars import classpath_jars
from kafkactl.java import check_java, java_command
from kafkactl.workdir import BrokerDir

__all__ = ["format_storage"]


def format_storage(
    workdir: BrokerDir, config: BrokerConfig, properties: str, ports: ListenerPorts, libdir: Path
) -> None:
    """
    Format `workdir`'s data dir with a new cluster id (no-op if it is formatted).

    Raises KafkaCtlError when java or the jars are missing or StorageTool fails.
    """
    if workdir.is_formatted:
        return
    java = check_java()
    jars = classpath_jars(libdir)
    workdir.create(properties, ports.as_dict())
    scram = [
        arg
        for user, password in sorted(config.scram_users.items())
        for mechanism in SCRAM_MECHANISMS
        for arg in ("--add-scram", f"{mechanism}=[name={user},password={password}]")
    ]
    cmd = [
        *java_command(java, jars, config, libdir, workdir, broker=False),
        "kafka.tools.StorageTool",
        "format",
        "--cluster-id",
        _random_cluster_id(),
        "--config",
        str(workdir.properties_path),
        *scram,
    ]
    proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=workdir.path,
        check=False,
        timeout=120,
    )
    output = proc.stdout.decode(errors="replace").strip()
    workdir.append_log(f"=== kafkactl format {time.strftime('%Y-%m-%dT%H:%M:%S')}\n{output}")
    if proc.returncode != 0 or not workdir.is_formatted:
        last = output.splitlines()[-1] if output else "no output"
        raise KafkaCtlError(f"StorageTool format failed (exit {proc.returncode}): {last}", output)


def _random_cluster_id() -> str:
    """Return an id like `StorageTool random-uuid`: 16 random bytes, URL-safe base64."""
    while True:
        cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id
