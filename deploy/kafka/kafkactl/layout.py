"""
Where things live: the Kafka files of the repository, the jar cache and the dev broker.

Jars are resolved into `<repo>/.cache/kafka/libs` (Maven's local repository is
`<repo>/.cache/kafka/m2`, AppCDS archives go to `<repo>/.cache/kafka/cds`). Each broker
owns one work directory (see `kafkactl.workdir`).
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CACHE_DIR",
    "CONFIG_TEMPLATE",
    "DEFAULT_LIBDIR",
    "DEV_PORT",
    "DEV_WORKDIR",
    "HOST",
    "KAFKA_DIR",
    "LOG4J2_CONFIG",
    "LOG_TAIL_LINES",
    "NODE_ID",
    "POM",
    "REPO_ROOT",
]

KAFKA_DIR = Path(__file__).resolve().parents[1]  # deploy/kafka
REPO_ROOT = KAFKA_DIR.parents[1]
POM = KAFKA_DIR / "pom.xml"
CONFIG_TEMPLATE = KAFKA_DIR / "server.properties.template"
LOG4J2_CONFIG = KAFKA_DIR / "log4j2.properties"
CACHE_DIR = REPO_ROOT / ".cache" / "kafka"
DEFAULT_LIBDIR = CACHE_DIR / "libs"

#: The dev broker of `make kafka-up` / `make run` (the CLI lets the environment move both).
DEV_WORKDIR = CACHE_DIR / "dev"
DEV_PORT = 9092

#: Every listener binds here; the broker is the only node (id 1) of its own KRaft quorum.
HOST = "127.0.0.1"
NODE_ID = 1

#: Lines of broker.log that error messages carry.
LOG_TAIL_LINES = 40
