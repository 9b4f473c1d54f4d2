"""
`kyc-bridge reconcile` when Kafka does not cooperate: it reconciles nothing rather than
guess the current state, and says so rather than drop what it could not publish.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bridge.commands import reconcile
from bridge.config import Settings, load_settings
from bridge.delivery.ingest import Ingest
from bridge.delivery.reconciler import Reconciler, Summary
from bridge.delivery.spool import Entry
from bridge.errors import PublishError
from bridge.publish import Record


def _settings(tmp_path: Path) -> Settings:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])  # nothing listens once the socket is closed
    return load_settings(
        {
            "BRIDGE_AUTH_TOKENS": "reconcile-cli-token-00001",
            "BRIDGE_ARGOS_API_KEYS": "reconcile-cli-api-key-01",
            "BRIDGE_SPOOL_DIR": str(tmp_path / "spool"),
            "BRIDGE_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
        }
    )


async def test_a_backfill_that_cannot_read_the_state_topic_reconciles_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the current state every result would look missing: nothing is walked."""
    walked: list[object] = []

    async def never(self: Ingest, timeout_s: float = 60.0) -> bool:
        return False

    async def walk(self: Reconciler, **kwargs: object) -> Summary:
        walked.append(kwargs)
        return Summary()

    monkeypatch.setattr(Ingest, "state_synced", never)
    monkeypatch.setattr(Reconciler, "run_once", walk)
    with pytest.raises(PublishError, match="nothing was reconciled"):
        await reconcile.reconcile_once(_settings(tmp_path))
    assert [] == walked


async def test_records_kafka_did_not_take_in_time_are_reported_not_dropped_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kafka stays away past the drain wait: an error names how many were not published."""

    async def synced(self: Ingest, timeout_s: float = 60.0) -> bool:
        return True

    async def walk(self: Reconciler, **kwargs: object) -> Summary:
        ingest: Ingest = self._ingest
        await ingest.spool.append([Entry("reconciled-1", "kyc.events.v1", Record(b"s", b"{}"))])
        return Summary()

    monkeypatch.setattr(Ingest, "state_synced", synced)
    monkeypatch.setattr(Reconciler, "run_once", walk)
    monkeypatch.setattr(reconcile, "_DRAIN_S", 0.3)
    with pytest.raises(PublishError, match="1 reconciled records were not acknowledged"):
        await reconcile.reconcile_once(_settings(tmp_path))
