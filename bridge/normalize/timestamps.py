"""
Parse the timestamp and date spellings ARGOS uses; pure functions.

Accepted timestamps (all become RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SS.sssZ`):

- ISO 8601 / RFC 3339 with `Z`, `+HH:MM`, `+HHMM` or `+HH`, `T` or a space as
  separator, 0 to 6 fractional digits; no offset means UTC (ARGOS documents
  every event time as UTC+0).
- The ARGOS API form `YYYY-MM-DD-HH-MM-SS-ZZZ` (`ZZZ` = milliseconds, optional).

Output keeps millisecond precision, or microseconds when the input has them,
so nothing is rounded away.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

__all__ = ["format_utc", "is_date", "parse_timestamp"]

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?"
    r"\s*(?:([Zz])|([+-])(\d{2})(?::?([0-5]\d))?)?",
    re.ASCII,
)
_ARGOS = re.compile(r"(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})(?:-(\d{3}))?", re.ASCII)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)


def format_utc(moment: datetime) -> str:
    """
    Format an aware datetime as RFC 3339 UTC with a `Z` suffix.

    A naive datetime is taken to be UTC already.
    """
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    micros = utc.microsecond
    fraction = f"{micros // 1000:03d}" if micros % 1000 == 0 else f"{micros:06d}"
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{fraction}Z"
    )


def _build(parts: tuple[str | None, ...], offset: timedelta) -> datetime:
    year, month, day, hour, minute, second, fraction = parts
    return datetime(
        int(year or 0),
        int(month or 0),
        int(day or 0),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        int((fraction or "").ljust(6, "0")),
        tzinfo=timezone(offset),
    )


def parse_timestamp(text: str) -> str | None:
    """
    Return `text` as RFC 3339 UTC, or None when it is not a timestamp we understand.

    Never raises: impossible dates, bad offsets and overflows give None.
    """
    candidate = text.strip()
    try:
        if match := _ARGOS.fullmatch(candidate):
            return format_utc(_build(match.groups(), timedelta(0)))
        if match := _ISO.fullmatch(candidate):
            *fields, _zulu, sign, off_h, off_m = match.groups()
            offset = timedelta(hours=int(off_h or 0), minutes=int(off_m or 0))
            return format_utc(_build(tuple(fields), -offset if sign == "-" else offset))
    except (ValueError, OverflowError):
        return None
    return None


def is_date(text: str) -> bool:
    """Return True when `text` is exactly a valid calendar date `YYYY-MM-DD`."""
    match = _DATE.fullmatch(text)
    if match is None:
        return False
    try:
        date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return True
