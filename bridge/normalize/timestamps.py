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
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache

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
    precision = "milliseconds" if utc.microsecond % 1000 == 0 else "microseconds"
    return utc.isoformat(timespec=precision).removesuffix("+00:00") + "Z"


@lru_cache(maxsize=256)
def _zone(sign: str | None, hours: str | None, minutes: str | None) -> timezone:
    offset = timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
    return timezone(-offset if sign == "-" else offset)


def _build(fields: Sequence[str | None], zone: timezone) -> datetime:
    year, month, day, hour, minute, second, fraction = fields
    return datetime(
        int(year or 0),
        int(month or 0),
        int(day or 0),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        int((fraction or "").ljust(6, "0")),
        tzinfo=zone,
    )


def _utc_digits(fields: Sequence[str | None]) -> str:
    """`format_utc` of a valid UTC time, straight from its (fixed-width) digits."""
    year, month, day, hour, minute, second, fraction = fields
    micros = (fraction or "").ljust(6, "0")
    return f"{year}-{month}-{day}T{hour}:{minute}:{second or '00'}.{micros.removesuffix('000')}Z"


def parse_timestamp(text: str) -> str | None:
    """
    Return `text` as RFC 3339 UTC, or None when it is not a timestamp we understand.

    Never raises: impossible dates, bad offsets and overflows give None.
    """
    candidate = text.strip()
    fields: Sequence[str | None]
    if match := _ISO.fullmatch(candidate):
        *fields, _zulu, sign, off_h, off_m = match.groups()
    elif match := _ARGOS.fullmatch(candidate):
        fields, sign, off_h, off_m = match.groups(), None, None, None
    else:
        return None
    try:
        moment = _build(fields, _zone(sign, off_h, off_m))
        return _utc_digits(fields) if moment.tzinfo is UTC else format_utc(moment)
    except (ValueError, OverflowError):
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
