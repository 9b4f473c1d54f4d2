"""Resolving the broker jars (kafkactl.jars) without running Maven when it is not needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.broker import KafkaCtlError, kafkactl


@pytest.mark.kafka
def test_fetch_is_a_no_op_when_the_stamp_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    """With jars stamped for the current pom, fetch() returns them without needing mvn."""
    kafkactl.fetch()  # resolves (and stamps) only if the pom changed
    monkeypatch.setenv("PATH", "/nonexistent")
    assert kafkactl.DEFAULT_LIBDIR == kafkactl.fetch()


def test_fetch_reports_missing_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unstamped lib dir and no mvn on PATH give a clear KafkaCtlError."""
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(KafkaCtlError, match="mvn not found"):
        kafkactl.fetch(libdir=tmp_path / "libs")


def test_classpath_needs_the_kafka_jar(tmp_path: Path) -> None:
    """A lib dir without the kafka_2.13 jar is refused with the command that fills it."""
    (tmp_path / "other-1.0.jar").write_bytes(b"")
    with pytest.raises(KafkaCtlError, match=r"kafkactl\.py fetch"):
        kafkactl.classpath_jars(tmp_path)
