"""
AppCDS: a class-data archive that makes the broker JVM start about twice as fast.

The first broker that stops cleanly records the archive (`-XX:ArchiveClassesAtExit`); later
JVMs on the same java and jars map it (`-XX:SharedArchiveFile`). The archive name is a hash
of the JVM build and every jar, so a new java or a jar bump never reads a stale one.
`KAFKACTL_NO_CDS=1` (or `BrokerConfig.use_cds=False`) turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

__all__ = ["cds_args", "cds_dir", "cds_enabled", "finish_cds_training"]

_STATE_FILE = "cds-training.json"


def cds_enabled(use_cds: bool) -> bool:
    """Return True when archives are wanted (`use_cds` and no `KAFKACTL_NO_CDS`)."""
    return use_cds and not os.environ.get("KAFKACTL_NO_CDS")


def cds_dir(libdir: Path) -> Path:
    """Return the directory holding the archives of the jars in `libdir`."""
    return libdir.parent / "cds"


def _archive_path(java: str, jars: list[Path], libdir: Path) -> Path:
    """Return the archive path, keyed on the JVM build and every jar (path, size, mtime)."""
    digest = hashlib.sha256()
    real_java = Path(java).resolve()
    jvm_files = [real_java, real_java.parent.parent / "lib" / "server" / "libjvm.so"]
    for path in [*jvm_files, *jars]:
        with contextlib.suppress(OSError):
            st = path.stat()
            digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return cds_dir(libdir) / f"kafka-{digest.hexdigest()[:20]}.jsa"


def cds_args(java: str, jars: list[Path], libdir: Path, workdir: Path, *, train: bool) -> list[str]:
    """
    Return the JVM flags that use the archive if it exists.

    Without one, and with `train`, return the flags that record it when the JVM exits; the
    pending file is noted in `workdir` for `finish_cds_training`.
    """
    archive = _archive_path(java, jars, libdir)
    if archive.is_file():
        return [f"-XX:SharedArchiveFile={archive}"]
    if not train:
        return []
    pending = workdir / "tmp" / f"cds-{os.getpid()}-{time.time_ns()}.jsa"
    state = {"pending": str(pending), "archive": str(archive)}
    (workdir / _STATE_FILE).write_text(json.dumps(state) + "\n")
    return [f"-XX:ArchiveClassesAtExit={pending}", "-Xlog:cds=off,cds+dynamic=off"]


def finish_cds_training(workdir: Path, *, clean_exit: bool) -> None:
    """After the JVM exited: publish its recorded archive if it stopped cleanly, else drop it."""
    state_path = workdir / _STATE_FILE
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return
    pending, archive = Path(state["pending"]), Path(state["archive"])
    if clean_exit and pending.is_file() and pending.stat().st_size > 0:
        archive.parent.mkdir(parents=True, exist_ok=True)
        os.replace(pending, archive)  # atomic: readers see no archive or a whole one
    pending.unlink(missing_ok=True)
    state_path.unlink(missing_ok=True)
