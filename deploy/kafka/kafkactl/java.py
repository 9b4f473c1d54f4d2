"""
The Java runtime: find one the Kafka 4.x broker can run on (17 or later) and build the
command lines of the broker and its tools.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from kafkactl.cds import cds_args, cds_enabled
from kafkactl.config import BrokerConfig
from kafkactl.errors import KafkaCtlError
from kafkactl.layout import LOG4J2_CONFIG
from kafkactl.workdir import BrokerDir

__all__ = [
    "MIN_JAVA",
    "TOOL_HEAP_MB",
    "check_java",
    "java_command",
    "java_executable",
    "java_major_version",
]

MIN_JAVA = 17
TOOL_HEAP_MB = 256

_versions: dict[str, int] = {}


def java_executable() -> str:
    """
    Return `$JAVA_HOME/bin/java` if set and executable, else `java` from PATH.

    Raises KafkaCtlError when there is neither.
    """
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise KafkaCtlError(
            f"java not found (set JAVA_HOME or put it on PATH); Kafka 4.x needs Java {MIN_JAVA}+"
        )
    return found


def java_major_version(java: str) -> int:
    """
    Return the feature version of `java` (17 for 17.0.15, 8 for 1.8.0), cached per binary.

    Raises KafkaCtlError when it cannot be run or its output is not understood.
    """
    if java not in _versions:
        try:
            proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [java, "-version"], capture_output=True, text=True, timeout=60, check=False
            )
        except OSError as exc:
            raise KafkaCtlError(f"cannot run {java}: {exc}") from exc
        match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
        if match is None:
            raise KafkaCtlError(f"cannot parse the output of `{java} -version`")
        major = int(match.group(1))
        if major == 1:
            major = int(match.group(2) or 0)
        _versions[java] = major
    return _versions[java]


def check_java() -> str:
    """
    Return the path of a usable java.

    Raises KafkaCtlError when there is none or it is older than Java 17.
    """
    java = java_executable()
    major = java_major_version(java)
    if major < MIN_JAVA:
        raise KafkaCtlError(
            f"{java} is Java {major}; Kafka 4.x brokers need Java {MIN_JAVA}+ (set JAVA_HOME)"
        )
    return java


def java_command(
    java: str,
    jars: list[Path],
    config: BrokerConfig,
    libdir: Path,
    workdir: BrokerDir,
    *,
    broker: bool,
) -> list[str]:
    """
    Return java, its flags and the classpath, for the broker or (not `broker`) a tool.

    The broker gets a fixed heap and records an AppCDS archive if there is none; a tool such
    as StorageTool gets a small heap and a quick-start JIT.
    """
    heap_mb = config.heap_mb if broker else TOOL_HEAP_MB
    heap = [f"-Xms{heap_mb}m", f"-Xmx{heap_mb}m"] if broker else [f"-Xmx{heap_mb}m"]
    tool = [] if broker else ["-XX:TieredStopAtLevel=1"]
    cds = (
        cds_args(java, jars, libdir, workdir.path, train=broker)
        if cds_enabled(config.use_cds)
        else []
    )
    return [
        java,
        *heap,
        "-XX:+UseSerialGC",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Djava.io.tmpdir={workdir.tmp_dir}",
        f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
        *config.extra_jvm_args,
        *tool,
        *cds,
        "-cp",
        os.pathsep.join(map(str, jars)),
    ]
