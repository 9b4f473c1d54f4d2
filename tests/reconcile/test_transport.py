"""`parse_retry_after` reads both forms of `Retry-After` (RFC 9110 section 10.2.3)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.reconcile.transport import parse_retry_after

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2", 2.0, id="seconds"),
        pytest.param(" 0 ", 0.0, id="zero"),
        pytest.param("0.25", 0.25, id="fraction"),
        pytest.param("Sat, 01 Mar 2025 12:00:30 GMT", 30.0, id="http-date"),
        pytest.param("Sat, 01 Mar 2025 11:59:00 GMT", 0.0, id="past-date"),
        pytest.param("-1", None, id="negative"),
        pytest.param("inf", None, id="infinite"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_retry_after_forms(value: str | None, expected: float | None) -> None:
    """Delta seconds and HTTP dates give seconds to wait; anything else gives None."""
    assert expected == parse_retry_after(value, now=NOW)
