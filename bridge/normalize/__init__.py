"""
ARGOS webhook normalization: pure functions from a decrypted payload to canonical data.

    normalize(payload) -> Normalized(event_type, trigger, data, occurred_at, subject, ...)

May import: `bridge.types` only (no I/O, no clock, no other layer).
"""

from __future__ import annotations

from bridge.normalize.argos import TRIGGERS, UNKNOWN, Normalized, Trigger, normalize
from bridge.normalize.rules import FieldWarning, WarningCode
from bridge.normalize.timestamps import format_utc, is_date, parse_timestamp

__all__ = [
    "TRIGGERS",
    "UNKNOWN",
    "FieldWarning",
    "Normalized",
    "Trigger",
    "WarningCode",
    "format_utc",
    "is_date",
    "normalize",
    "parse_timestamp",
]
