"""
Reconciliation against the ARGOS API (issue 12): find results whose webhook never arrived.

    settings.py  ReconcileSettings, RetryPolicy: frozen values, documented defaults
    client.py    ArgosClient: GET /v3/submission, one UTC day per query, pages, retries
    transport.py the HTTP seam: statuses, Retry-After, aiohttp errors -> reconcile errors
    pages.py     parse_page: decrypt a response, find Items and the cursor (any known style)
    mapping.py   map_item: one item -> webhook-shaped payload, status time, event id
    run.py       reconcile_project: walk days and pages, call on_item / on_progress, RunStats
    errors.py    the client's errors, under bridge.errors

Self-contained: no HTTP server, nothing from `bridge.delivery` or `bridge.ingress`. Whether
an item is newer than the current state, and publishing it, is the caller's `on_item`.

May import: `bridge.config`, `bridge.errors`, `bridge.events`, `bridge.normalize`,
`bridge.types`.
"""

from __future__ import annotations

from bridge.reconcile.client import ArgosClient
from bridge.reconcile.errors import (
    ArgosApiError,
    ArgosRefusedError,
    ArgosResponseError,
    ArgosUnavailableError,
    UnmappableItemError,
)
from bridge.reconcile.mapping import (
    TRIGGER_FOR_RESULT,
    ReconciledItem,
    map_item,
    reconciled_event_id,
    status_time,
)
from bridge.reconcile.pages import Cursor, Page, parse_page
from bridge.reconcile.run import ItemCallback, ProgressCallback, RunStats, reconcile_project
from bridge.reconcile.settings import DEFAULT_API_URL, ReconcileSettings, RetryPolicy

__all__ = [
    "DEFAULT_API_URL",
    "TRIGGER_FOR_RESULT",
    "ArgosApiError",
    "ArgosClient",
    "ArgosRefusedError",
    "ArgosResponseError",
    "ArgosUnavailableError",
    "Cursor",
    "ItemCallback",
    "Page",
    "ProgressCallback",
    "ReconcileSettings",
    "ReconciledItem",
    "RetryPolicy",
    "RunStats",
    "UnmappableItemError",
    "map_item",
    "parse_page",
    "reconcile_project",
    "reconciled_event_id",
    "status_time",
]
