"""
`kyc-bridge reconcile`: a one-off backfill from the ARGOS API, through a spool of
its own (the running bridge owns its spool), with a progress bar and a summary.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from bridge.commands.progress import Progress, progress_for
from bridge.config import Settings
from bridge.delivery.ingest import Ingest
from bridge.delivery.reconciler import Reconciler, Summary
from bridge.errors import PublishError
from bridge.events import EventFactory
from bridge.metrics import Metrics
from bridge.pii.load import load_kek
from bridge.publish.kafka import KafkaPublisher
from bridge.schemas import load_registry

__all__ = ["reconcile_once", "run"]

_DRAIN_S = 120.0


async def reconcile_once(
    settings: Settings,
    *,
    projects: Sequence[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    dry_run: bool = False,
) -> Summary:
    """
    Reconcile the given projects (default: all) over the window and wait until every
    published event is acknowledged (at most two minutes).

    Raises:
        PublishError: the state topic could not be read to its end (nothing was
            reconciled: every result would have looked missing), or events were still
            unacknowledged after two minutes (they are not published; their state
            records neither, so the next run finds them again).
    """
    factory = EventFactory(load_registry())
    with tempfile.TemporaryDirectory(prefix="kyc-bridge-reconcile-") as scratch:
        spool = dataclasses.replace(settings.spool, directory=Path(scratch))
        local = dataclasses.replace(settings, spool=spool)
        metrics = Metrics()
        ingest = Ingest(
            local,
            KafkaPublisher(settings.kafka),
            metrics,
            factory=factory,
            kek=load_kek(settings.pii),
        )
        await ingest.start()
        try:
            if not await ingest.state_synced():
                raise PublishError(
                    "the state topic could not be read to its end within 60 s; nothing was "
                    "reconciled (run again once Kafka answers)"
                )
            bar = _Bar()
            try:
                summary = await Reconciler(local, ingest, factory, metrics).run_once(
                    projects=projects,
                    since=since,
                    until=until,
                    dry_run=dry_run,
                    on_progress=bar.update,
                )
            finally:
                bar.close()
            if not await ingest.drained(_DRAIN_S):
                raise PublishError(
                    f"{ingest.spool.events} reconciled records were not acknowledged by Kafka "
                    f"within {_DRAIN_S:.0f} s and were not published (run again: they are "
                    "found again)"
                )
        finally:
            ingest.gate.close(10.0)
            await ingest.stop()
    return summary


class _Bar:
    """Days done of each project's window, as a progress bar (or lines) on stderr."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._done = 0

    def update(self, done: int, total: int) -> None:
        if self._progress is None or done == 0:
            self.close()
            self._progress = progress_for(sys.stderr, total, label="reconcile", unit="days")
            self._done = 0
        self._progress.advance(done - self._done, f"{done}/{total} days")
        self._done = done

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None


def run(
    settings: Settings,
    *,
    projects: Sequence[str] | None,
    since: date | None,
    until: date | None,
    dry_run: bool,
) -> Summary:
    """Synchronous entry point for the CLI."""
    return asyncio.run(
        reconcile_once(settings, projects=projects, since=since, until=until, dry_run=dry_run)
    )
