#!/usr/bin/env python3
"""Run a real single-node Apache Kafka 4.x broker (KRaft) from Maven Central jars, no Docker.

CLI (backs ``make kafka-up`` / ``make kafka-down``)::

    python deploy/kafka/kafkactl.py fetch [--force]
    python deploy/kafka/kafkactl.py up [--workdir DIR] [--port N]   # prints the bootstrap address
    python deploy/kafka/kafkactl.py down [--workdir DIR]
    python deploy/kafka/kafkactl.py status [--workdir DIR]

Exit codes: 0 ok, 1 failure (one-line message on stderr; ``status`` exits 1 when the broker is
not running or not answering).

Library (tests load this file by path, see ``tests/support/broker.py``)::

    broker = Broker(BrokerConfig(workdir=tmp_path / "kafka"))
    broker.start()                      # formats on first use, waits until a Metadata request works
    broker.create_topic("events", partitions=3)
    broker.kill(); broker.restart()     # same ports, same data dir
    broker.stop()

Layout: jars in ``<repo>/.cache/kafka/libs`` (``fetch``), Maven repo ``<repo>/.cache/kafka/m2``,
AppCDS archives ``<repo>/.cache/kafka/cds``. Per broker workdir: ``server.properties``,
``data/`` (log.dirs), ``tmp/`` (java.io.tmpdir), ``broker.log``, ``broker.pid``, ``ports.json``.

Only the standard library is needed; aiokafka is imported lazily by ``create_topic``.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any, Literal, TypeVar

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
POM = HERE / "pom.xml"
CONFIG_TEMPLATE = HERE / "server.properties.template"
LOG4J2_CONFIG = HERE / "log4j2.properties"
CACHE_DIR = REPO_ROOT / ".cache" / "kafka"
DEFAULT_LIBDIR = CACHE_DIR / "libs"
DEV_WORKDIR = CACHE_DIR / "dev"
DEV_PORT = 9092

MIN_JAVA = 17
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
STAMP_NAME = ".pom.sha256"
NODE_ID = 1
HOST = "127.0.0.1"
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
SASL_MECHANISMS = ("PLAIN", *SCRAM_MECHANISMS)
STORAGE_TOOL_HEAP_MB = 256
LOG_TAIL_LINES = 40

_T = TypeVar("_T")
ClientAuth = Literal["none", "requested", "required"]


class KafkaCtlError(RuntimeError):
    """A broker-tool failure; ``summary`` is a one-line message fit for a CLI."""

    def __init__(self, summary: str, detail: str = "") -> None:
        self.summary = summary
        self.detail = detail
        super().__init__(f"{summary}\n{detail}" if detail else summary)


class BrokerStartError(KafkaCtlError):
    """The JVM exited or did not become ready; ``detail`` holds the end of broker.log."""


# --------------------------------------------------------------------------- java, maven


def java_executable() -> str:
    """``$JAVA_HOME/bin/java`` if set and executable, else ``java`` from PATH."""
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


_java_versions: dict[str, int] = {}


def java_major_version(java: str) -> int:
    """Feature version of ``java`` (``17`` for 17.0.15, ``8`` for 1.8.0), cached per binary."""
    if java not in _java_versions:
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
        _java_versions[java] = major
    return _java_versions[java]


def check_java() -> str:
    """Path of a usable java (17+), or KafkaCtlError."""
    java = java_executable()
    major = java_major_version(java)
    if major < MIN_JAVA:
        raise KafkaCtlError(
            f"{java} is Java {major}; Kafka 4.x brokers need Java {MIN_JAVA}+ (set JAVA_HOME)"
        )
    return java


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


def libs_up_to_date(libdir: Path = DEFAULT_LIBDIR, pom: Path = POM) -> bool:
    """True when ``libdir`` holds jars resolved from the current ``pom`` (stamp = its sha256)."""
    stamp = libdir / STAMP_NAME
    try:
        recorded = stamp.read_text().strip()
    except OSError:
        return False
    return recorded == _sha256_file(pom) and any(libdir.glob("kafka_2.13-*.jar"))


def fetch(*, libdir: Path = DEFAULT_LIBDIR, pom: Path = POM, force: bool = False) -> Path:
    """Resolve the broker's runtime jars from ``pom`` into ``libdir`` (absolute); return it.

    Skipped when the stamp in ``libdir`` matches the pom's sha256. Otherwise Maven copies the
    runtime closure into a fresh staging dir that then replaces ``libdir`` (so no stale jar
    survives a version bump). Maven's local repo is ``<libdir>/../m2``.
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
        cmd = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(pom),
            f"-Dmaven.repo.local={cache / 'm2'}",
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
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
        if not any(staging.glob("kafka_2.13-*.jar")):
            raise KafkaCtlError(f"mvn succeeded but {staging} holds no kafka_2.13 jar")
        (staging / STAMP_NAME).write_text(_sha256_file(pom) + "\n")
        shutil.rmtree(old, ignore_errors=True)
        if libdir.exists():
            libdir.rename(old)
        staging.rename(libdir)
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(_cds_dir(libdir), ignore_errors=True)  # archives of the old jars
    return libdir


def classpath_jars(libdir: Path) -> list[Path]:
    """The jars of ``libdir`` in a fixed order (AppCDS needs the same classpath every time)."""
    jars = sorted(libdir.glob("*.jar"))
    if not any(jar.name.startswith("kafka_2.13-") for jar in jars):
        raise KafkaCtlError(
            f"no Kafka jars in {libdir}; run `python deploy/kafka/kafkactl.py fetch`"
        )
    return jars


# --------------------------------------------------------------------------- AppCDS


def _cds_dir(libdir: Path) -> Path:
    return libdir.parent / "cds"


def _cds_archive_path(java: str, jars: list[Path], libdir: Path) -> Path:
    """Archive name keyed on the JVM build and every jar (path, size, mtime)."""
    digest = hashlib.sha256()
    real_java = Path(java).resolve()
    jvm_files = [real_java, real_java.parent.parent / "lib" / "server" / "libjvm.so"]
    for path in [*jvm_files, *jars]:
        with contextlib.suppress(OSError):
            st = path.stat()
            digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return _cds_dir(libdir) / f"kafka-{digest.hexdigest()[:20]}.jsa"


# --------------------------------------------------------------------------- ports, probe


_handed_out_ports: set[int] = set()
_ports_lock = threading.Lock()


def pick_free_port() -> int:
    """A currently free TCP port on 127.0.0.1, never the same twice in this process."""
    with _ports_lock:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((HOST, 0))
                port = int(sock.getsockname()[1])
            if port not in _handed_out_ports:
                _handed_out_ports.add(port)
                return port
    raise KafkaCtlError("could not find a free TCP port on 127.0.0.1")


def port_is_free(port: int) -> bool:
    """True if a server socket could bind 127.0.0.1:port now (SO_REUSEADDR, like the JVM)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


class ProbeError(OSError):
    """The broker answered the Metadata probe with something unexpected."""


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise ProbeError("connection closed by the broker")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def probe_metadata(port: int, host: str = HOST, timeout: float = 3.0) -> str:
    """Send a Metadata v4 request (no topics) over a raw socket; return the cluster id.

    Succeeds only when the broker is serving requests and lists itself at ``host:port``.
    Raises OSError (ConnectionRefusedError, timeout, ProbeError) otherwise.
    """
    client_id = b"kafkactl-probe"
    correlation_id = 0x6B63
    # Request header v1 (api_key=3 Metadata, version 4) + body: topics=[] and
    # allow_auto_topic_creation=false.
    body = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
    body += struct.pack(">ib", 0, 0)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        data = _recv_exact(sock, size)
    pos = 0

    def take(fmt: str) -> int:
        nonlocal pos
        (value,) = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return int(value)

    def take_string() -> str | None:
        nonlocal pos
        length = take(">h")
        if length < 0:
            return None
        text = data[pos : pos + length].decode()
        pos += length
        return text

    try:
        if take(">i") != correlation_id:
            raise ProbeError("Metadata response with a foreign correlation id")
        take(">i")  # throttle_time_ms
        brokers = []
        for _ in range(take(">i")):
            node_id = take(">i")
            broker_host = take_string()
            broker_port = take(">i")
            take_string()  # rack
            brokers.append((node_id, broker_host, broker_port))
        cluster_id = take_string()
    except struct.error as exc:
        raise ProbeError(f"truncated Metadata response: {exc}") from exc
    if (NODE_ID, host, port) not in brokers:
        raise ProbeError(f"broker list {brokers} does not include {NODE_ID}@{host}:{port}")
    return cluster_id or ""


def random_cluster_id() -> str:
    """Like ``StorageTool random-uuid``: 16 random bytes, URL-safe base64, no padding."""
    while True:
        cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


# --------------------------------------------------------------------------- config

_USER_RE = re.compile(r"^[A-Za-z0-9._@-]+$")
# Safe inside a JAAS quoted string and inside StorageTool's --add-scram [k=v,...] syntax.
_PASSWORD_RE = re.compile(r'^[^\s"\\,\[\]=]+$')
_KEY_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_STACK_FRAME_RE = re.compile(r"^\s+(at |\.\.\. \d+ more)")


def _escape_property(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "\\" + escaped if escaped[:1] in (" ", "\t") else escaped


@dataclass
class BrokerConfig:
    """One single-node KRaft broker. Port 0 = pick a free port (kept for this workdir)."""

    workdir: Path
    port: int = 0
    controller_port: int = 0
    heap_mb: int = 384
    sasl_port: int | None = None  # SASL_PLAINTEXT listener: PLAIN + SCRAM-SHA-256/512
    sasl_ssl_port: int | None = None  # SASL_SSL listener: same mechanisms, over TLS
    ssl_port: int | None = None  # SSL listener; client certs per ssl_client_auth
    ssl_client_auth: ClientAuth = "none"  # applies to the SSL listener only
    ssl_keystore_pem: Path | None = None  # cert chain + unencrypted PKCS#8 key, one file
    ssl_truststore_pem: Path | None = None  # CA certs that sign client certificates
    plain_users: dict[str, str] = field(default_factory=dict)
    scram_users: dict[str, str] = field(default_factory=dict)  # added at format time
    extra_overrides: dict[str, str] = field(default_factory=dict)  # last word on any key
    num_partitions: int = 1
    use_cds: bool = True  # AppCDS archive: about 2x faster JVM start (env KAFKACTL_NO_CDS=1)
    extra_jvm_args: tuple[str, ...] = ()

    def validate(self) -> None:
        """Raise ValueError for settings the broker would reject later, less clearly."""
        if self.heap_mb < 128:
            raise ValueError("heap_mb must be at least 128")
        if self.num_partitions < 1:
            raise ValueError("num_partitions must be at least 1")
        if self.ssl_client_auth not in ("none", "requested", "required"):
            raise ValueError(f"ssl_client_auth={self.ssl_client_auth!r}")
        uses_tls = self.ssl_port is not None or self.sasl_ssl_port is not None
        if uses_tls and self.ssl_keystore_pem is None:
            raise ValueError("ssl_port/sasl_ssl_port need ssl_keystore_pem")
        if self.ssl_client_auth != "none" and self.ssl_truststore_pem is None:
            raise ValueError("ssl_client_auth needs ssl_truststore_pem (the client CA)")
        for users in (self.plain_users, self.scram_users):
            for name, password in users.items():
                if not _USER_RE.match(name):
                    raise ValueError(f"user name {name!r}: use letters, digits and ._@-")
                if not _PASSWORD_RE.match(password):
                    raise ValueError(f'password of {name!r}: no whitespace or "\\,[]=')
        for key in self.extra_overrides:
            if not _KEY_RE.match(key):
                raise ValueError(f"bad property name {key!r}")


_PORT_FIELDS = ("port", "controller_port", "sasl_port", "sasl_ssl_port", "ssl_port")

# JVMs started by this process that must not outlive it (all but `kafkactl.py up`'s).
_attached_jvms: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_attached_jvms() -> None:
    for proc in list(_attached_jvms):
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)


def _run_in_thread(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion on a private event loop (works inside a running loop)."""
    results: list[_T] = []
    errors: list[BaseException] = []

    def runner() -> None:
        try:
            results.append(asyncio.run(factory()))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=runner, name="kafkactl-sync", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]


class Broker:
    """A single-node KRaft broker+controller JVM on 127.0.0.1, in its own process group.

    Ports are fixed when the object is built (0 = reuse ``ports.json`` of the workdir, else a
    free port), so ``restart`` comes back on the same addresses with the same data dir.
    """

    def __init__(self, config: BrokerConfig, libdir: Path | None = None) -> None:
        config.validate()
        self.config = config
        self.workdir = config.workdir.expanduser().resolve()
        self.libdir = (libdir or DEFAULT_LIBDIR).resolve()
        saved = self._read_saved_ports()

        def choose(requested: int | None, key: str) -> int | None:
            if requested is None:
                return None
            if requested == 0:
                requested = saved.get(key) or pick_free_port()
            with _ports_lock:
                _handed_out_ports.add(requested)
            return requested

        self.port: int = choose(config.port, "port") or 0
        self.controller_port: int = choose(config.controller_port, "controller_port") or 0
        self.sasl_port = choose(config.sasl_port, "sasl_port")
        self.sasl_ssl_port = choose(config.sasl_ssl_port, "sasl_ssl_port")
        self.ssl_port = choose(config.ssl_port, "ssl_port")
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        # False: the JVM is SIGKILLed when this Python process exits (tests never leak
        # brokers). The CLI's `up` sets True so the dev broker outlives it.
        self.detached = False
        self.last_start_seconds: float | None = None  # launch -> ready, of the last start()

    # ---- paths and addresses

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:<port>`` of the PLAINTEXT listener."""
        return f"{HOST}:{self.port}"

    def _listener_address(self, port: int | None, name: str) -> str:
        if port is None:
            raise KafkaCtlError(f"this broker has no {name} listener")
        return f"{HOST}:{port}"

    @property
    def sasl_bootstrap(self) -> str:
        """Address of the SASL_PLAINTEXT listener."""
        return self._listener_address(self.sasl_port, "SASL_PLAINTEXT")

    @property
    def ssl_bootstrap(self) -> str:
        """Address of the SSL listener."""
        return self._listener_address(self.ssl_port, "SSL")

    @property
    def sasl_ssl_bootstrap(self) -> str:
        """Address of the SASL_SSL listener."""
        return self._listener_address(self.sasl_ssl_port, "SASL_SSL")

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "broker.log"

    @property
    def properties_path(self) -> Path:
        return self.workdir / "server.properties"

    @property
    def pid_path(self) -> Path:
        return self.workdir / "broker.pid"

    @property
    def is_formatted(self) -> bool:
        return (self.data_dir / "meta.properties").is_file()

    @property
    def cluster_id(self) -> str | None:
        """``cluster.id`` from the data dir's meta.properties (None before format)."""
        try:
            text = (self.data_dir / "meta.properties").read_text()
        except OSError:
            return None
        match = re.search(r"^cluster\.id=(\S+)", text, re.MULTILINE)
        return match.group(1) if match else None

    def _read_saved_ports(self) -> dict[str, int]:
        try:
            raw = json.loads((self.workdir / "ports.json").read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(raw, dict):
            return {}
        return {k: v for k, v in raw.items() if k in _PORT_FIELDS and isinstance(v, int) and v}

    # ---- configuration

    def render_config(self) -> str:
        """The full server.properties text for this broker."""
        cfg = self.config
        listeners = [f"PLAINTEXT://{HOST}:{self.port}"]
        sasl_listeners: list[str] = []
        if self.sasl_port is not None:
            listeners.append(f"SASL_PLAINTEXT://{HOST}:{self.sasl_port}")
            sasl_listeners.append("sasl_plaintext")
        if self.ssl_port is not None:
            listeners.append(f"SSL://{HOST}:{self.ssl_port}")
        if self.sasl_ssl_port is not None:
            listeners.append(f"SASL_SSL://{HOST}:{self.sasl_ssl_port}")
            sasl_listeners.append("sasl_ssl")
        text = Template(CONFIG_TEMPLATE.read_text()).substitute(
            controller_port=self.controller_port,
            listeners=",".join([*listeners, f"CONTROLLER://{HOST}:{self.controller_port}"]),
            advertised_listeners=",".join(listeners),
            log_dir=_escape_property(str(self.data_dir)),
            num_partitions=cfg.num_partitions,
        )
        extra: dict[str, str] = {}
        if sasl_listeners:
            extra["sasl.enabled.mechanisms"] = ",".join(SASL_MECHANISMS)
            plain = "".join(f' user_{u}="{p}"' for u, p in sorted(cfg.plain_users.items()))
            for listener in sasl_listeners:
                prefix = f"listener.name.{listener}"
                extra[f"{prefix}.plain.sasl.jaas.config"] = (
                    f"org.apache.kafka.common.security.plain.PlainLoginModule required{plain};"
                )
                for mechanism in SCRAM_MECHANISMS:
                    extra[f"{prefix}.{mechanism.lower()}.sasl.jaas.config"] = (
                        "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                    )
        if cfg.ssl_keystore_pem is not None and (self.ssl_port or self.sasl_ssl_port):
            extra["ssl.keystore.type"] = "PEM"
            extra["ssl.keystore.location"] = str(cfg.ssl_keystore_pem.resolve())
            if cfg.ssl_truststore_pem is not None:
                extra["ssl.truststore.type"] = "PEM"
                extra["ssl.truststore.location"] = str(cfg.ssl_truststore_pem.resolve())
            if self.ssl_port is not None:
                extra["listener.name.ssl.ssl.client.auth"] = cfg.ssl_client_auth
            if self.sasl_ssl_port is not None:
                extra["listener.name.sasl_ssl.ssl.client.auth"] = "none"
        extra.update(cfg.extra_overrides)
        lines = [text.rstrip("\n"), "", "# ---- generated by kafkactl (security, overrides)"]
        lines += [f"{key}={_escape_property(value)}" for key, value in extra.items()]
        return "\n".join(lines) + "\n"

    def _prepare_workdir(self) -> None:
        for path in (self.workdir, self.data_dir, self.workdir / "tmp"):
            path.mkdir(parents=True, exist_ok=True)
        ports = {key: getattr(self, key) for key in _PORT_FIELDS if getattr(self, key) is not None}
        (self.workdir / "ports.json").write_text(json.dumps(ports, indent=2) + "\n")
        self.properties_path.write_text(self.render_config())

    def _jvm_args(self, heap_mb: int, *, fixed_heap: bool) -> list[str]:
        args = [f"-Xmx{heap_mb}m"]
        if fixed_heap:
            args.insert(0, f"-Xms{heap_mb}m")
        return [
            *args,
            "-XX:+UseSerialGC",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Djava.io.tmpdir={self.workdir / 'tmp'}",
            f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
            *self.config.extra_jvm_args,
        ]

    def _cds_args(self, java: str, jars: list[Path], *, train: bool) -> list[str]:
        """Use the shared archive if present; else (broker only) record one on a clean stop."""
        if not self.config.use_cds or os.environ.get("KAFKACTL_NO_CDS"):
            return []
        archive = _cds_archive_path(java, jars, self.libdir)
        if archive.is_file():
            return [f"-XX:SharedArchiveFile={archive}"]
        if not train:
            return []
        pending = self.workdir / "tmp" / f"cds-{os.getpid()}-{time.time_ns()}.jsa"
        state = {"pending": str(pending), "archive": str(archive)}
        (self.workdir / "cds-training.json").write_text(json.dumps(state) + "\n")
        return [f"-XX:ArchiveClassesAtExit={pending}", "-Xlog:cds=off,cds+dynamic=off"]

    def _finish_cds_training(self, clean_exit: bool) -> None:
        state_path = self.workdir / "cds-training.json"
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

    def _append_log(self, text: str) -> None:
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(text if text.endswith("\n") else text + "\n")

    def log_tail(self, lines: int = LOG_TAIL_LINES, *, since_start: bool = True) -> str:
        """Last lines of broker.log (by default only what the current JVM wrote), without
        Java stack frames, so the ``Caused by:`` chain fits."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset if since_start else 0)
                data = log.read()
        except OSError:
            return ""
        kept = [
            line
            for line in data.decode(errors="replace").splitlines()
            if not _STACK_FRAME_RE.match(line)
        ]
        return "\n".join(kept[-lines:])

    # ---- lifecycle

    def format(self) -> None:
        """Format the data dir once (no-op if meta.properties exists); adds the SCRAM users."""
        if self.is_formatted:
            return
        java = check_java()
        jars = classpath_jars(self.libdir)
        self._prepare_workdir()
        scram = [
            ("--add-scram", f"{mechanism}=[name={user},password={password}]")
            for user, password in sorted(self.config.scram_users.items())
            for mechanism in SCRAM_MECHANISMS
        ]
        cmd = [
            java,
            *self._jvm_args(STORAGE_TOOL_HEAP_MB, fixed_heap=False),
            "-XX:TieredStopAtLevel=1",
            *self._cds_args(java, jars, train=False),
            "-cp",
            os.pathsep.join(map(str, jars)),
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            random_cluster_id(),
            "--config",
            str(self.properties_path),
            *[arg for pair in scram for arg in pair],
        ]
        proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            check=False,
            timeout=120,
        )
        output = proc.stdout.decode(errors="replace").strip()
        self._append_log(f"=== kafkactl format {time.strftime('%Y-%m-%dT%H:%M:%S')}\n{output}")
        if proc.returncode != 0 or not self.is_formatted:
            last = output.splitlines()[-1] if output else "no output"
            raise KafkaCtlError(
                f"StorageTool format failed (exit {proc.returncode}): {last}", output
            )

    def start(self, wait: bool = True, timeout: float = 60) -> None:
        """Format if needed, launch the JVM detached in its own process group, wait until ready.

        If it does not get ready, the JVM is killed and BrokerStartError carries the log tail.
        """
        if self.is_running():
            raise KafkaCtlError(f"broker in {self.workdir} is already running (pid {self.pid})")
        java = check_java()
        jars = classpath_jars(self.libdir)
        self.format()
        self._prepare_workdir()
        self._finish_cds_training(clean_exit=False)  # leftovers of a killed training run
        cmd = [
            java,
            *self._jvm_args(self.config.heap_mb, fixed_heap=True),
            *self._cds_args(java, jars, train=True),
            "-cp",
            os.pathsep.join(map(str, jars)),
            "kafka.Kafka",
            str(self.properties_path),
        ]
        self._append_log(f"=== kafkactl start {time.strftime('%Y-%m-%dT%H:%M:%S')}")
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        self.pid_path.write_text(f"{self._proc.pid}\n")
        if not self.detached:
            _attached_jvms.add(self._proc)
        self.last_start_seconds = None
        if not wait:
            return
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        self.last_start_seconds = time.monotonic() - started

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until the PLAINTEXT port accepts and a Metadata request succeeds.

        Fails fast (BrokerStartError with the log tail) if the JVM exits meanwhile.
        """
        deadline = time.monotonic() + timeout
        last_error = "not probed yet"
        expected_cluster = self.cluster_id
        while True:
            if not self.is_running():
                code = self._proc.returncode if self._proc is not None else None
                raise BrokerStartError(
                    f"broker JVM exited (code {code}) before it was ready; see {self.log_path}",
                    self.log_tail(),
                )
            remaining = deadline - time.monotonic()
            try:
                cluster = probe_metadata(self.port, timeout=max(0.2, min(3.0, remaining)))
            except OSError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                if expected_cluster in (None, cluster):
                    return
                # Another broker answers on our port; ours is about to fail with a bind error.
                last_error = f"{self.bootstrap} serves cluster {cluster}, not {expected_cluster}"
            if time.monotonic() >= deadline:
                raise BrokerStartError(
                    f"broker not ready after {timeout:g}s ({last_error}); see {self.log_path}",
                    self.log_tail(),
                )
            time.sleep(0.05)

    @property
    def pid(self) -> int | None:
        """PID of the running broker JVM (ours, or the one in broker.pid), else None."""
        if self._proc is not None:
            return self._proc.pid if self._proc.poll() is None else None
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _is_broker_process(pid, self.properties_path) else None

    def is_running(self) -> bool:
        """True while the broker JVM is alive (ready or not)."""
        return self.pid is not None

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
        while _is_broker_process(pid, self.properties_path):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _after_exit(self, clean: bool) -> None:
        if self._proc is not None:
            self._proc.poll()
            _attached_jvms.discard(self._proc)
        self.pid_path.unlink(missing_ok=True)
        self._finish_cds_training(clean)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (controlled shutdown), wait up to ``timeout``, then SIGKILL."""
        pid = self.pid
        if pid is None:
            self._after_exit(clean=False)
            return
        self._signal(pid, signal.SIGTERM)
        clean = self._wait_exit(pid, timeout)
        if not clean:
            self._signal(pid, signal.SIGKILL)
            self._wait_exit(pid, 30)
        elif self._proc is not None:
            clean = self._proc.returncode in (0, 128 + signal.SIGTERM)
        self._after_exit(clean)

    def kill(self) -> None:
        """SIGKILL the JVM (crash simulation) and reap it."""
        pid = self.pid
        if pid is not None:
            self._signal(pid, signal.SIGKILL)
            self._wait_exit(pid, 30)
        self._after_exit(clean=False)

    def restart(self, timeout: float = 60) -> None:
        """``stop()`` then ``start()`` on the same ports and data dir."""
        self.stop()
        self.start(timeout=timeout)

    async def astart(self, timeout: float = 60) -> None:  # noqa: ASYNC109 - bounds a thread asyncio.timeout can't cancel
        """``start()`` in a worker thread, so a running event loop keeps running."""
        await asyncio.to_thread(self.start, True, timeout)

    async def astop(self, timeout: float = 30) -> None:  # noqa: ASYNC109 - bounds a thread asyncio.timeout can't cancel
        """``stop()`` in a worker thread."""
        await asyncio.to_thread(self.stop, timeout)

    async def arestart(self, timeout: float = 60) -> None:  # noqa: ASYNC109 - bounds a thread asyncio.timeout can't cancel
        """``restart()`` in a worker thread."""
        await asyncio.to_thread(self.restart, timeout)

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Broker({self.bootstrap}, workdir={self.workdir}, pid={self.pid})"

    # ---- topics

    async def acreate_topic(
        self,
        name: str,
        partitions: int = 1,
        *,
        configs: dict[str, str] | None = None,
        timeout: float = 30,  # noqa: ASYNC109 - also the admin client's request timeout
    ) -> None:
        """Create ``name`` (replication factor 1) unless it exists; wait until all partitions
        have a leader. Uses aiokafka's admin client on the PLAINTEXT listener."""
        try:
            from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: PLC0415
        except ImportError as exc:
            raise KafkaCtlError("create_topic needs aiokafka (pip install aiokafka)") from exc
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap, request_timeout_ms=int(timeout * 1000)
        )
        deadline = time.monotonic() + timeout
        await admin.start()
        try:
            response = await admin.create_topics(
                [NewTopic(name, partitions, 1, topic_configs=configs or {})]
            )
            for topic_error in response.topic_errors:
                code = topic_error[1]
                if code not in (0, 36):  # 36 = TOPIC_ALREADY_EXISTS
                    raise KafkaCtlError(f"CreateTopics {name!r} failed with error code {code}")
            while True:
                described = await admin.describe_topics([name])
                parts = described[0]["partitions"] if described else []
                if (
                    described
                    and described[0]["error_code"] == 0
                    and len(parts) >= partitions
                    and all(p["error_code"] == 0 and p["leader"] >= 0 for p in parts)
                ):
                    return
                if time.monotonic() >= deadline:
                    raise KafkaCtlError(f"topic {name!r} has no leaders after {timeout:g}s")
                await asyncio.sleep(0.05)
        finally:
            await admin.close()

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        *,
        configs: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> None:
        """Blocking ``acreate_topic`` (runs its own loop in a thread; safe inside async code)."""
        _run_in_thread(
            lambda: self.acreate_topic(name, partitions, configs=configs, timeout=timeout)
        )


def _is_broker_process(pid: int, properties: Path) -> bool:
    """True if ``pid`` is a live (not zombie) ``kafka.Kafka <properties>`` JVM."""
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


# --------------------------------------------------------------------------- CLI


def _say(message: str) -> None:
    print(f"kafkactl: {message}", file=sys.stderr)


def _cmd_fetch(args: argparse.Namespace) -> int:
    started = time.monotonic()
    fresh = libs_up_to_date(DEFAULT_LIBDIR) and not args.force
    libdir = fetch(force=args.force)
    jars = list(libdir.glob("*.jar"))
    size_mb = sum(jar.stat().st_size for jar in jars) / 1e6
    verb = "up to date" if fresh else f"resolved in {time.monotonic() - started:.1f}s"
    _say(f"{len(jars)} jars ({size_mb:.0f} MB) in {libdir}: {verb}")
    return 0


def _dev_broker(workdir: Path, port: int = 0, heap_mb: int = 384) -> Broker:
    return Broker(BrokerConfig(workdir=workdir, port=port, heap_mb=heap_mb))


def _cmd_up(args: argparse.Namespace) -> int:
    existing = _dev_broker(args.workdir)
    if existing.is_running():
        existing.wait_ready(args.timeout)
        _say(f"already running (pid {existing.pid}, workdir {existing.workdir})")
        print(existing.bootstrap)
        return 0
    if not port_is_free(args.port):
        raise KafkaCtlError(f"port {args.port} on {HOST} is in use; pick another with --port")
    fetch()
    broker = _dev_broker(args.workdir, args.port, args.heap_mb)
    broker.detached = True
    broker.start(timeout=args.timeout)
    _say(
        f"broker up in {broker.last_start_seconds or 0:.1f}s (pid {broker.pid}, "
        f"log {broker.log_path}); stop with `kafkactl.py down`"
    )
    print(broker.bootstrap)
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    broker = _dev_broker(args.workdir)
    pid = broker.pid
    if pid is None:
        _say(f"not running (workdir {broker.workdir})")
        return 0
    broker.stop(args.timeout)
    _say(f"stopped pid {pid}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    broker = _dev_broker(args.workdir)
    pid = broker.pid
    if pid is None:
        _say(f"not running (workdir {broker.workdir})")
        return 1
    try:
        cluster_id = probe_metadata(broker.port)
    except OSError as exc:
        _say(f"pid {pid} is running but {broker.bootstrap} does not answer: {exc}")
        return 1
    if cluster_id != broker.cluster_id:
        _say(f"pid {pid} is running but {broker.bootstrap} serves cluster {cluster_id}")
        return 1
    _say(f"running: pid {pid}, cluster {cluster_id}, log {broker.log_path}")
    print(broker.bootstrap)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kafkactl.py", description="Local Apache Kafka 4.x broker (KRaft) from Maven jars."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_fetch = sub.add_parser("fetch", help="resolve the broker jars via deploy/kafka/pom.xml")
    p_fetch.add_argument("--force", action="store_true", help="ignore the up-to-date stamp")
    p_fetch.set_defaults(handler=_cmd_fetch)
    workdir_help = f"broker state dir (default {DEV_WORKDIR})"
    p_up = sub.add_parser("up", help="start the detached dev broker; print its bootstrap address")
    p_up.add_argument("--workdir", type=Path, default=DEV_WORKDIR, help=workdir_help)
    p_up.add_argument("--port", type=int, default=DEV_PORT, help=f"default {DEV_PORT}")
    p_up.add_argument("--heap-mb", type=int, default=384)
    p_up.add_argument("--timeout", type=float, default=90.0)
    p_up.set_defaults(handler=_cmd_up)
    p_down = sub.add_parser("down", help="stop the dev broker (SIGTERM, then SIGKILL)")
    p_down.add_argument("--workdir", type=Path, default=DEV_WORKDIR, help=workdir_help)
    p_down.add_argument("--timeout", type=float, default=30.0)
    p_down.set_defaults(handler=_cmd_down)
    p_status = sub.add_parser("status", help="exit 0 if the dev broker answers, else 1")
    p_status.add_argument("--workdir", type=Path, default=DEV_WORKDIR, help=workdir_help)
    p_status.set_defaults(handler=_cmd_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors: exit 1 like every other failure (--help: 0)
        return 0 if exc.code in (0, None) else 1
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KafkaCtlError as exc:
        _say(f"error: {exc.summary}")
        if exc.detail:
            print("\n".join(f"  | {line}" for line in exc.detail.splitlines()), file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        _say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
