"""
kafkactl: a real single-node Apache Kafka 4.x broker (KRaft) from Maven Central jars, no
Docker. The command line is `python deploy/kafka/kafkactl.py` (`kafkactl.cli`); tests use the
library through `tests/support/broker.py`::

    broker = Broker(BrokerConfig(workdir=tmp_path / "kafka"))
    broker.start()                      # formats on first use, waits until Metadata works
    broker.create_topic("events", partitions=3)
    broker.kill(); broker.restart()     # same ports, same data dir
    broker.stop()

Modules, one concern each: `layout` (paths), `java` (find Java, build command lines),
`jars` (fetched from Maven), `cds` (AppCDS archives), `config` (`BrokerConfig`,
server.properties), `workdir` (a broker's files), `storage` (format), `process` (the JVM
process), `ports`, `probe` (is it serving?), `broker` (`Broker`), `topics`, `cli`.
They may import only the standard library and each other; `topics` imports aiokafka lazily.
"""

from __future__ import annotations

from kafkactl.broker import Broker
from kafkactl.cli import main
from kafkactl.config import BrokerConfig, ClientAuth, ListenerPorts
from kafkactl.errors import BrokerStartError, KafkaCtlError
from kafkactl.jars import classpath_jars, fetch, libs_up_to_date
from kafkactl.java import check_java
from kafkactl.layout import DEFAULT_LIBDIR, DEV_PORT, DEV_WORKDIR, HOST
from kafkactl.ports import pick_free_port, port_is_free
from kafkactl.probe import ProbeError, probe_metadata

__all__ = [
    "DEFAULT_LIBDIR",
    "DEV_PORT",
    "DEV_WORKDIR",
    "HOST",
    "Broker",
    "BrokerConfig",
    "BrokerStartError",
    "ClientAuth",
    "KafkaCtlError",
    "ListenerPorts",
    "ProbeError",
    "check_java",
    "classpath_jars",
    "fetch",
    "libs_up_to_date",
    "main",
    "pick_free_port",
    "port_is_free",
    "probe_metadata",
]
