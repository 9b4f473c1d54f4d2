"""
The broker tool's errors. Every failure a user can act on is a `KafkaCtlError`
whose `summary` fits on one CLI line; `detail` holds what explains it (a log tail)::

    KafkaCtlError            java, mvn, jars, ports, format, topics
     └── BrokerStartError    the JVM exited or did not become ready
"""

from __future__ import annotations

__all__ = ["BrokerStartError", "KafkaCtlError"]


class KafkaCtlError(RuntimeError):
    """Raised for any broker-tool failure; `summary` is a one-line message fit for a CLI."""

    def __init__(self, summary: str, detail: str = "") -> None:
        self.summary = summary
        self.detail = detail
        super().__init__(f"{summary}\n{detail}" if detail else summary)


class BrokerStartError(KafkaCtlError):
    """Raised when the JVM exits or is not ready in time; `detail` is the end of broker.log."""
