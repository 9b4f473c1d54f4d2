"""A broker's settings and its server.properties text (kafkactl.config), without a broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.broker import BrokerConfig, kafkactl


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"heap_mb": 64}, "heap_mb", id="small-heap"),
        pytest.param({"num_partitions": 0}, "num_partitions", id="no-partitions"),
        pytest.param({"ssl_port": 0}, "ssl_keystore_pem", id="tls-without-key"),
        pytest.param({"plain_users": {"a b": "secret"}}, "user name", id="bad-user"),
        pytest.param({"scram_users": {"carol": "with,comma"}}, "password", id="bad-password"),
        pytest.param({"extra_overrides": {"a=b": "1"}}, "property name", id="bad-key"),
    ],
)
def test_validate_names_the_bad_setting(
    tmp_path: Path, fields: dict[str, Any], message: str
) -> None:
    """Settings the broker would reject later are refused up front, naming the setting."""
    with pytest.raises(ValueError, match=message):
        BrokerConfig(workdir=tmp_path, **fields).validate()


def test_properties_carry_listeners_users_and_overrides(tmp_path: Path) -> None:
    """The rendered text has every listener, the SASL users, and overrides win over the template."""
    config = BrokerConfig(
        workdir=tmp_path,
        plain_users={"alice": "alice-secret"},
        extra_overrides={"num.partitions": "3", "auto.create.topics.enable": "false"},
    )
    ports = kafkactl.ListenerPorts(port=9001, controller_port=9002, sasl_port=9003)
    text = kafkactl.config.render_properties(config, ports, tmp_path / "data")
    lines = text.splitlines()
    assert (
        "listeners=PLAINTEXT://127.0.0.1:9001,SASL_PLAINTEXT://127.0.0.1:9003,CONTROLLER://127.0.0.1:9002"
        in lines
    )
    assert "controller.quorum.voters=1@127.0.0.1:9002" in lines
    assert 'user_alice="alice-secret";' in text
    # Kafka reads the last occurrence of a key: the override comes after the template's line.
    last = {line.partition("=")[0]: line.partition("=")[2] for line in lines if "=" in line}
    assert ("3", "false") == (last["num.partitions"], last["auto.create.topics.enable"])
