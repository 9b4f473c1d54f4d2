"""Pytest-side helpers around the broker tool, the package ``deploy/kafka/kafkactl/``.

``deploy/`` is not a Python package, so the package is loaded by path and registered as
``kafkactl`` in ``sys.modules`` (mypy finds it as ``kafkactl`` through ``mypy_path =
"deploy/kafka"``). Typical use in a conftest or test module::

    @pytest.fixture(scope="session", name="brokers")
    def _brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerPool]:
        with BrokerPool(tmp_path_factory.mktemp("kafka")) as pool:
            yield pool

    broker = brokers.start("main")            # Broker; broker.bootstrap == "127.0.0.1:<port>"
    broker.kill(); broker.restart()           # fault injection, same ports and data
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The command line entry (``python deploy/kafka/kafkactl.py <command>``).
KAFKACTL_PATH = REPO_ROOT / "deploy" / "kafka" / "kafkactl.py"
#: The package it runs.
KAFKACTL_PACKAGE = REPO_ROOT / "deploy" / "kafka" / "kafkactl"


def load_kafkactl() -> ModuleType:
    """Import the package deploy/kafka/kafkactl once per process, as ``kafkactl``."""
    init = KAFKACTL_PACKAGE / "__init__.py"
    existing = sys.modules.get("kafkactl")
    if existing is not None and Path(getattr(existing, "__file__", "")) == init:
        return existing
    spec = importlib.util.spec_from_file_location(
        "kafkactl", init, submodule_search_locations=[str(KAFKACTL_PACKAGE)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {KAFKACTL_PACKAGE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["kafkactl"] = module  # its submodules import `kafkactl.<name>`
    try:
        spec.loader.exec_module(module)
    except BaseException:
        for name in [name for name in sys.modules if name.partition(".")[0] == "kafkactl"]:
            del sys.modules[name]
        raise
    return module


kafkactl = load_kafkactl()

if TYPE_CHECKING:
    from kafkactl import (
        Broker,
        BrokerConfig,
        BrokerStartError,
        KafkaCtlError,
        fetch,
        pick_free_port,
        probe_metadata,
    )
else:
    Broker = kafkactl.Broker
    BrokerConfig = kafkactl.BrokerConfig
    BrokerStartError = kafkactl.BrokerStartError
    KafkaCtlError = kafkactl.KafkaCtlError
    fetch = kafkactl.fetch
    pick_free_port = kafkactl.pick_free_port
    probe_metadata = kafkactl.probe_metadata

__all__ = [
    "KAFKACTL_PACKAGE",
    "KAFKACTL_PATH",
    "SECURE_PLAIN_USERS",
    "SECURE_SCRAM_USERS",
    "Broker",
    "BrokerConfig",
    "BrokerPool",
    "BrokerStartError",
    "KafkaCtlError",
    "ensure_libs",
    "fetch",
    "kafkactl",
    "load_kafkactl",
    "pick_free_port",
    "probe_metadata",
]


#: Users of the session's secured broker (tests/conftest.py `secure_kafka`).
SECURE_PLAIN_USERS = {"alice": "alice-secret"}
SECURE_SCRAM_USERS = {"carol": "carol-secret"}


def ensure_libs() -> Path:
    """The broker jar dir, resolving it with Maven first if the pom changed (else instant)."""
    return fetch()


class BrokerPool:
    """Creates brokers in sub-directories of ``base_dir`` and stops every one on ``close()``."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.brokers: list[Broker] = []
        self._libdir: Path | None = None

    def new(self, name: str, **config: Any) -> Broker:
        """A not-yet-started broker in ``base_dir/name``; ``config`` = BrokerConfig fields."""
        if self._libdir is None:
            self._libdir = ensure_libs()
        workdir = self.base_dir / name
        if any(broker.workdir == workdir.resolve() for broker in self.brokers):
            raise ValueError(f"broker {name!r} already exists in this pool")
        broker = Broker(BrokerConfig(workdir=workdir, **config), libdir=self._libdir)
        self.brokers.append(broker)
        return broker

    def start(self, name: str, **config: Any) -> Broker:
        """``new()`` + ``start()``: a ready broker."""
        broker = self.new(name, **config)
        broker.start()
        return broker

    def close(self) -> None:
        """Stop all brokers (SIGTERM, SIGKILL after 15 s); never raises for one broker."""
        for broker in reversed(self.brokers):
            try:
                broker.stop(timeout=15)
            except Exception:  # best effort teardown, then a hard kill
                broker.kill()

    def __enter__(self) -> BrokerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
