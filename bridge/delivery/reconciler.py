"""
Reconciliation against the ARGOS API, on the delivery side: for every
submission whose API state is newer than the current state, the result is
published like a webhook (through the same spool, order and dedup), with
`source.channel: "reconcile"` and a deterministic event id (the same missed
result found twice is one event). A webhook that later delivers the same
result is then stale.

Several replicas may reconcile at once: what they publish for one missed
result has one event id (consumers dedupe on `ce_id`) and moves the state to
the same value, so duplicates are harmless; no leader election is needed.

The periodic reconciler starts its first run only once the state follower has
read the state topic to its end: until then the local state table lacks what
other replicas (or this one, with a lost spool) published, and every result
already on the topic would look missing and be published again, under a
reconcile id that consumers cannot dedupe against the webhook's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import structlog

from bridge.config import ProjectSettings, Settings
from bridge.delivery.ingest import Ingest
from bridge.events import EventFactory
from bridge.metrics import Metrics
from bridge.reconcile import ArgosClient, ReconciledItem, RunStats, reconcile_project
from bridge.reconcile.run import ProgressCallback

__all__ = ["Reconciler", "Summary"]

log = structlog.get_logger("bridge.reconciler")

_SYNC_WAIT_S = 60.0  # how long to wait for the state follower before saying so (and waiting on)


@dataclass(slots=True)
class Summary:
    """What a run did, per project: the API walk and the events published."""

    stats: dict[str, RunStats] = field(default_factory=dict)
    checked: int = 0  # results compared with the current state
    missing: int = 0  # of those, newer than the state: published (or would be, dry run)
    published: int = 0

    def as_dict(self) -> dict[str, object]:
        """A JSON-able summary: counts, and each project's outcome."""
        return {
            "checked": self.checked,
            "missing": self.missing,
            "published": self.published,
            "projects": {
                name: {"outcome": stats.outcome, **stats.as_dict()}
                for name, stats in self.stats.items()
            },
        }

    @property
    def complete(self) -> bool:
        """Whether every project's walk read every page (a `partial` or `failed` is not)."""
        return all(stats.outcome == "ok" for stats in self.stats.values())


class Reconciler:
    """Runs reconciliation for every project (periodically or once); see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        ingest: Ingest,
        factory: EventFactory,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._ingest = ingest
        self._factory = factory
        self._metrics = metrics
        self._clock = clock

    async def run_forever(self) -> None:
        """
        Reconcile every project each `BRIDGE_RECONCILE_INTERVAL_S` (a supervised task),
        the first time once the state topic has been read (see the module docstring).
        """
        while not await self._ingest.state_synced(_SYNC_WAIT_S):
            log.warning("reconcile.waiting_for_state", waited_s=_SYNC_WAIT_S)
        while True:
            await self.run_once()
            await asyncio.sleep(self._settings.reconcile.interval_s)

    async def run_once(
        self,
        *,
        projects: Sequence[str] | None = None,
        since: date | None = None,
        until: date | None = None,
        dry_run: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> Summary:
        """
        Walk the window (default: the lookback days and today, UTC) of each project that
        has API keys, and publish every missing result (none with `dry_run`).
        """
        summary = Summary()
        today = datetime.fromtimestamp(self._clock(), UTC).date()
        default_since, default_until = self._settings.reconcile.window(today)
        for project in self._settings.projects:
            if projects is not None and project.name not in projects:
                continue
            if not project.api_keys:
                log.info("reconcile.skipped_project", project=project.name, reason="no api key")
                continue
            before = (summary.checked, summary.missing, summary.published)
            stats = await self._project(
                project,
                since or default_since,
                until or default_until,
                summary,
                dry_run=dry_run,
                on_progress=on_progress,
            )
            summary.stats[project.name] = stats
            self._metrics.reconcile_runs.labels(stats.outcome).inc()
            # `reconcile.finished` (the API walk) is logged by reconcile_project; this line
            # adds what the delivery side did with the results of this project.
            log.info(
                "reconcile.published",
                project=project.name,
                outcome=stats.outcome,
                checked=summary.checked - before[0],
                missing=summary.missing - before[1],
                published=summary.published - before[2],
                dry_run=dry_run,
            )
        if summary.stats and summary.complete:  # one failing project holds it back
            self._metrics.reconcile_last_success.set(self._clock())
        return summary

    async def _project(
        self,
        project: ProjectSettings,
        since: date,
        until: date,
        summary: Summary,
        *,
        dry_run: bool,
        on_progress: ProgressCallback | None,
    ) -> RunStats:
        settings = dataclasses.replace(self._settings.reconcile, api_url=project.api_url)
        topic = self._settings.topic_for(project)

        async def on_item(item: ReconciledItem) -> None:
            summary.checked += 1
            if not self._ingest.is_missing(item.submission_id, item.status, item.status_time_text):
                return
            summary.missing += 1
            if dry_run:
                return
            draft = self._factory.draft(
                item.payload,
                project=project.name,
                received_at=datetime.fromtimestamp(self._clock(), UTC),
                encrypted=False,
                channel="reconcile",
                event_id=item.event_id,
            )
            draft = draft.with_status_time(item.status_time_text)
            receipt = await self._ingest.accept(draft, topic, deadline=0.0)
            if not receipt.duplicate:
                summary.published += 1
                self._metrics.reconciled_events.labels(draft.event_type).inc()

        async with ArgosClient(
            [k.value for k in project.api_keys], settings=settings, project=project.name
        ) as client:
            return await reconcile_project(
                client,
                project.name,
                since=since,
                until=until,
                on_item=on_item,
                on_progress=on_progress,
            )
