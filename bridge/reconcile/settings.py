"""
Reconciliation settings: the values live in `bridge.config` (settings are built once,
there); this module names them for the reconciler.
"""

from __future__ import annotations

from bridge.config.settings import (
    DEFAULT_API_URL,
    MAX_PAGE_SIZE,
    ReconcileSettings,
    RetryPolicy,
)

__all__ = [
    "DEFAULT_API_URL",
    "MAX_PAGE_SIZE",
    "ReconcileSettings",
    "RetryPolicy",
]
