"""Timestamp and date parsing: every ARGOS spelling, and never a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.normalize.timestamps import format_utc, is_date, parse_timestamp

PARSED = [
    ("2024-06-21T03:24:57.565Z", "2024-06-21T03:24:57.565Z"),
    ("2024-06-21T03:24:57Z", "2024-06-21T03:24:57.000Z"),
    ("2024-06-21t03:24:57z", "2024-06-21T03:24:57.000Z"),
    ("2024-06-21T03:24:57.5Z", "2024-06-21T03:24:57.500Z"),
    ("2024-06-21T03:24:57.123456Z", "2024-06-21T03:24:57.123456Z"),
    ("2024-06-21T12:24:57.565+09:00", "2024-06-21T03:24:57.565Z"),
    ("2024-06-21T12:24:57+0900", "2024-06-21T03:24:57.000Z"),
    ("2024-06-20T22:24:57-05", "2024-06-21T03:24:57.000Z"),
    ("2024-06-21 03:24:57", "2024-06-21T03:24:57.000Z"),
    ("2024-06-21T03:24", "2024-06-21T03:24:00.000Z"),
    ("2024-06-21T03:24:57,565Z", "2024-06-21T03:24:57.565Z"),
    ("  2024-06-21T03:24:57Z  ", "2024-06-21T03:24:57.000Z"),
    ("2024-01-01T00:30:00+01:00", "2023-12-31T23:30:00.000Z"),
    ("2024-06-21-03-24-57-565", "2024-06-21T03:24:57.565Z"),
    ("2024-06-21-03-24-57-005", "2024-06-21T03:24:57.005Z"),
    ("2024-06-21-03-24-57", "2024-06-21T03:24:57.000Z"),
]

UNPARSED = [
    "",
    "string",
    "2024-06-21",
    "14/03/2025 09:21",
    "2024-02-30T00:00:00Z",
    "2024-06-21T24:00:00Z",
    "2024-06-21T03:24:60Z",
    "2024-06-21T03:24:57+25:00",
    "2024-06-21T03:24:57+05:99",
    "2024-06-21T03:24:57.1234567Z",
    "2024-06-21-03-24-57-5",
    "0001-01-01T00:00:00+01:00",
    "1718940297",
    "२०२४-06-21T03:24:57Z",
]


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_readable_timestamps_become_rfc3339_utc(text: str, expected: str) -> None:
    """ISO 8601 with any offset and the ARGOS YYYY-MM-DD-HH-MM-SS-ZZZ form become UTC `Z`."""
    assert expected == parse_timestamp(text)


@pytest.mark.parametrize("text", UNPARSED)
def test_unreadable_timestamps_give_none(text: str) -> None:
    """Anything else (impossible dates, bad offsets, overflow, epochs) gives None, no error."""
    assert None is parse_timestamp(text)


@given(st.text())
def test_parse_timestamp_never_raises(text: str) -> None:
    """Arbitrary text never makes the parser raise."""
    result = parse_timestamp(text)
    assert result is None or result.endswith("Z")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1991-07-23", True),
        ("2024-02-29", True),
        ("2023-02-29", False),
        ("23.07.1991", False),
        ("1991-7-23", False),
        ("1991-07-23T00:00:00Z", False),
        ("", False),
    ],
)
def test_is_date_accepts_only_valid_yyyy_mm_dd(text: str, expected: bool) -> None:
    """Dates stay YYYY-MM-DD; only real calendar dates in exactly that form pass."""
    assert expected == is_date(text)


def test_format_utc_converts_and_keeps_precision() -> None:
    """Aware times are converted to UTC; sub-millisecond digits are kept, not rounded."""
    seoul = timezone(timedelta(hours=9))
    assert format_utc(datetime(2025, 1, 1, 9, tzinfo=seoul)) == "2025-01-01T00:00:00.000Z"
    assert format_utc(datetime(2025, 1, 1, 0, 0, 0, 250, UTC)) == "2025-01-01T00:00:00.000250Z"
    assert format_utc(datetime(2025, 1, 1)) == "2025-01-01T00:00:00.000Z"
