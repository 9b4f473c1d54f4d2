"""Shared fixtures: real Apache Kafka brokers started by the project's own tooling."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.broker import Broker, BrokerPool


@pytest.fixture(scope="session", name="brokers")
def _brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerPool]:
    """A pool of brokers for the session; every broker is stopped at the end."""
    with BrokerPool(tmp_path_factory.mktemp("kafka")) as pool:
        yield pool


@pytest.fixture(scope="session", name="kafka")
def _kafka(brokers: BrokerPool) -> Broker:
    """One shared single-node KRaft broker for tests that don't stop or kill it."""
    return brokers.start("shared", extra_overrides={"num.partitions": "3"})
