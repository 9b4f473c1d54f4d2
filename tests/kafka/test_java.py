"""Finding a Java runtime the broker can use (kafkactl.java)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.broker import KafkaCtlError, kafkactl


def _fake_java(home: Path, version_line: str) -> None:
    java = home / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(0o755)


def test_old_java_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Java 11 found through JAVA_HOME is refused with the version in the message."""
    _fake_java(tmp_path, 'openjdk version "11.0.22" 2024-01-16')
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(KafkaCtlError, match=r"Java 11; Kafka 4\.x brokers need Java 17"):
        kafkactl.check_java()


def test_missing_java_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No JAVA_HOME and no java on PATH: KafkaCtlError says how to provide one."""
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KafkaCtlError, match="java not found"):
        kafkactl.check_java()
