"""
The broker jars: resolved once from Maven Central (`deploy/kafka/pom.xml`), then put on
the classpath in a fixed order.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from kafkactl.cds import cds_dir
from kafkactl.errors import KafkaCtlError
from kafkactl.java import check_java
from kafkactl.layout import DEFAULT_LIBDIR, LOG_TAIL_LINES, POM

__all__ = ["classpath_jars", "fetch", "libs_up_to_date"]

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
STAMP_NAME = ".pom.sha256"
_KAFKA_JAR = "kafka_2.13-*.jar"


def libs_up_to_date(libdir: Path = DEFAULT_LIBDIR, pom: Path = POM) -> bool:
    """Return True when `libdir` holds jars resolved from the current `pom` (stamp = its sha256)."""
    try:
        recorded = (libdir / STAMP_NAME).read_text().strip()
    except OSError:
        return False
    return recorded == _sha256_file(pom) and any(libdir.glob(_KAFKA_JAR))


def fetch(*, libdir: Path = DEFAULT_LIBDIR, pom: Path = POM, force: bool = False) -> Path:
    """
    Resolve the broker's runtime jars from `pom` into `libdir`; return it (absolute).

    Skipped when the stamp in `libdir` matches the pom's sha256. Otherwise Maven copies the
    runtime closure into a fresh staging dir that then replaces `libdir` (so no stale jar
    survives a version bump). Maven's local repository is `<libdir>/../m2`.
    Raises KafkaCtlError when mvn or java is missing or Maven fails.
    """
    libdir = libdir.resolve()
    pom = pom.resolve()
    if not force and libs_up_to_date(libdir, pom):
        return libdir
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaCtlError("mvn not found on PATH (needed once to resolve the Kafka jars)")
    check_java()
    cache = libdir.parent
    with _file_lock(cache / ".fetch.lock"):
        if not force and libs_up_to_date(libdir, pom):  # another process just did it
            return libdir
        staging = cache / f"{libdir.name}.staging"
        old = cache / f"{libdir.name}.old"
        shutil.rmtree(staging, ignore_errors=True)
        _copy_dependencies(mvn, pom, cache / "m2", staging)
        (staging / STAMP_NAME).write_text(_sha256_file(pom) + "\n")
        shutil.rmtree(old, ignore_errors=True)
        if libdir.exists():
            libdir.rename(old)
        staging.rename(libdir)
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(cds_dir(libdir), ignore_errors=True)  # archives of the old jars
    return libdir


def classpath_jars(libdir: Path) -> list[Path]:
    """
    Return the jars of `libdir` in a fixed order (AppCDS needs the same classpath every time).

    Raises KafkaCtlError when it holds no Kafka jar.
    """
    jars = sorted(libdir.glob("*.jar"))
    if not any(jar.match(_KAFKA_JAR) for jar in jars):
        raise KafkaCtlError(
            f"no Kafka jars in {libdir}; run `python deploy/kafka/kafkactl.py fetch`"
        )
    return jars


def _copy_dependencies(mvn: str, pom: Path, repository: Path, target: Path) -> None:
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom),
        f"-Dmaven.repo.local={repository}",
        f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={target}",
    ]
    proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
        cmd, capture_output=True, text=True, check=False, timeout=1800
    )
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip().splitlines()
        errors = [line for line in output if "[ERROR]" in line] or output or ["no output"]
        raise KafkaCtlError(
            f"mvn copy-dependencies failed (exit {proc.returncode}): {errors[0].strip()}",
            "\n".join(output[-LOG_TAIL_LINES:]),
        )
    if not any(target.glob(_KAFKA_JAR)):
        raise KafkaCtlError(f"mvn succeeded but {target} holds no kafka_2.13 jar")


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
