"""
`Broker`: one single-node KRaft broker+controller JVM on 127.0.0.1, from format to stop.

Ports are fixed when the object is built (0 = reuse the work directory's `ports.json`, else a
free port), so `restart` comes back on the same addresses with the same data.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from kafkactl.cds import finish_cds_training
from kafkactl.config import BrokerConfig, ListenerPorts, render_properties
from kafkactl.errors import BrokerStartError, KafkaCtlError
from kafkactl.jars import classpath_jars
from kafkactl.java import check_java, java_command
from kafkactl.layout import DEFAULT_LIBDIR, HOST
from kafkactl.ports import pick_free_port, reserve_port
from kafkactl.probe import probe_metadata
from kafkactl.process import BrokerProcess
from kafkactl.storage import format_storage
from kafkactl.topics import acreate_topic, create_topic
from kafkactl.workdir import BrokerDir

__all__ = ["Broker"]


class Broker:
    """A single-node KRaft broker+controller JVM on 127.0.0.1, in its own process group."""

    def __init__(self, config: BrokerConfig, libdir: Path | None = None) -> None:
        config.validate()
        self.config = config
        self.dir = BrokerDir(config.workdir.expanduser().resolve())
        self.libdir = (libdir or DEFAULT_LIBDIR).resolve()
        saved = self.dir.saved_ports()

        def choose(requested: int | None, key: str) -> int | None:
            if requested is None:
                return None
            if requested == 0:
                requested = saved.get(key) or pick_free_port()
            reserve_port(requested)
            return requested

        self.ports = ListenerPorts(
            port=choose(config.port, "port") or 0,
            controller_port=choose(config.controller_port, "controller_port") or 0,
            sasl_port=choose(config.sasl_port, "sasl_port"),
            sasl_ssl_port=choose(config.sasl_ssl_port, "sasl_ssl_port"),
            ssl_port=choose(config.ssl_port, "ssl_port"),
        )
        self._process = BrokerProcess(self.dir)
        self._log_offset = 0
        # False: the JVM is SIGKILLed when this Python process exits (tests never leak
        # brokers). The CLI's `up` sets True so the dev broker outlives it.
        self.detached = False
        self.last_start_seconds: float | None = None  # launch -> ready, of the last start()

    # ---- addresses and files

    @property
    def port(self) -> int:
        """The PLAINTEXT listener's port."""
        return self.ports.port

    @property
    def bootstrap(self) -> str:
        """`127.0.0.1:<port>` of the PLAINTEXT listener."""
        return f"{HOST}:{self.ports.port}"

    @property
    def sasl_bootstrap(self) -> str:
        """Address of the SASL_PLAINTEXT listener; KafkaCtlError if there is none."""
        return _address(self.ports.sasl_port, "SASL_PLAINTEXT")

    @property
    def ssl_bootstrap(self) -> str:
        """Address of the SSL listener; KafkaCtlError if there is none."""
        return _address(self.ports.ssl_port, "SSL")

    @property
    def sasl_ssl_bootstrap(self) -> str:
        """Address of the SASL_SSL listener; KafkaCtlError if there is none."""
        return _address(self.ports.sasl_ssl_port, "SASL_SSL")

    @property
    def workdir(self) -> Path:
        return self.dir.path

    @property
    def data_dir(self) -> Path:
        return self.dir.data_dir

    @property
    def log_path(self) -> Path:
        return self.dir.log_path

    @property
    def pid_path(self) -> Path:
        return self.dir.pid_path

    @property
    def cluster_id(self) -> str | None:
        """`cluster.id` of the formatted data dir (None before format)."""
        return self.dir.cluster_id

    def render_config(self) -> str:
        """Return the full server.properties text for this broker."""
        return render_properties(self.config, self.ports, self.dir.data_dir)

    def log_tail(self, *, since_start: bool = True) -> str:
        """Return the end of broker.log (by default only what the current JVM wrote)."""
        return self.dir.log_tail(self._log_offset if since_start else 0)

    # ---- lifecycle

    def format(self) -> None:
        """
        Format the data dir once (no-op if formatted), adding the SCRAM users.

        Raises KafkaCtlError when java or the jars are missing or StorageTool fails.
        """
        format_storage(self.dir, self.config, self.render_config(), self.ports, self.libdir)

    def start(self, wait: bool = True, timeout: float = 60) -> None:
        """
        Format if needed, launch the JVM detached in its own process group, wait until ready.

        Raises KafkaCtlError if it is already running; BrokerStartError (with the log tail)
        if it does not get ready, after killing the JVM.
        """
        if self.is_running():
            raise KafkaCtlError(f"broker in {self.workdir} is already running (pid {self.pid})")
        java = check_java()
        jars = classpath_jars(self.libdir)
        self.format()
        self.dir.create(self.render_config(), self.ports.as_dict())
        finish_cds_training(self.dir.path, clean_exit=False)  # leftovers of a killed run
        cmd = [
            *java_command(java, jars, self.config, self.libdir, self.dir, broker=True),
            "kafka.Kafka",
            str(self.dir.properties_path),
        ]
        self.dir.append_log(f"=== kafkactl start {time.strftime('%Y-%m-%dT%H:%M:%S')}")
        started = time.monotonic()
        self._log_offset = self.dir.log_size()
        self._process.launch(cmd, detached=self.detached)
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
        """
        Wait until the PLAINTEXT port accepts and a Metadata request succeeds.

        Raises BrokerStartError (with the log tail) when the JVM exits meanwhile or time runs
        out.
        """
        deadline = time.monotonic() + timeout
        last_error = "not probed yet"
        expected_cluster = self.cluster_id
        while True:
            if not self.is_running():
                raise BrokerStartError(
                    f"broker JVM exited (code {self._process.returncode}) before it was ready; "
                    f"see {self.log_path}",
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
        return self._process.pid

    def is_running(self) -> bool:
        """Return True while the broker JVM is alive (ready or not)."""
        return self.pid is not None

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (controlled shutdown), wait up to `timeout`, then SIGKILL."""
        clean = self._process.terminate(timeout)
        finish_cds_training(self.dir.path, clean_exit=clean)

    def kill(self) -> None:
        """SIGKILL the JVM (crash simulation) and reap it."""
        self._process.kill()
        finish_cds_training(self.dir.path, clean_exit=False)

    def restart(self, timeout: float = 60) -> None:
        """`stop()` then `start()` on the same ports and data dir."""
        self.stop()
        self.start(timeout=timeout)

    async def astart(self, timeout: float = 60) -> None:  # noqa: ASYNC109 - bounds a thread asyncio.timeout can't cancel
        """`start()` in a worker thread, so a running event loop keeps running."""
        await asyncio.to_thread(self.start, True, timeout)

    async def astop(self, timeout: float = 30) -> None:  # noqa: ASYNC109 - bounds a thread asyncio.timeout can't cancel
        """`stop()` in a worker thread."""
        await asyncio.to_thread(self.stop, timeout)

    async def arestart(self, timeout: float = 60) -> None:  # noqa: ASYNC109 - bounds a thread asyncio.timeout can't cancel
        """`restart()` in a worker thread."""
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
        """Create `name` on the PLAINTEXT listener unless it exists (see `topics`)."""
        await acreate_topic(self.bootstrap, name, partitions, configs=configs, timeout=timeout)

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        *,
        configs: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> None:
        """Blocking `acreate_topic` (runs its own loop in a thread; safe inside async code)."""
        create_topic(self.bootstrap, name, partitions, configs=configs, timeout=timeout)


def _address(port: int | None, listener: str) -> str:
    if port is None:
        raise KafkaCtlError(f"this broker has no {listener} listener")
    return f"{HOST}:{port}"
