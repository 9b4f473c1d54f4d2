"""
The HTTP seam of the ARGOS client: status codes, `Retry-After` and transport errors -> errors.

    429 -> ArgosUnavailableError("rate_limited"), 408 -> "timeout", 5xx -> "server_error"
    other non-2xx (redirects included) -> ArgosRefusedError(status, errorCode if identifier-like)
    TimeoutError -> "timeout", any aiohttp.ClientError -> "connection"

Exceptions are raised `from None` with the cause's class name only: aiohttp's messages and
tracebacks can carry the URL, and none of them is needed to act on the error.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
import orjson

from bridge.reconcile.errors import ArgosRefusedError, ArgosUnavailableError, UnavailableReason

__all__ = ["map_transport_errors", "parse_retry_after", "status_error"]

_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}", re.ASCII)
_ERROR_BODY_BYTES = 4096
_RETRIED: dict[int, UnavailableReason] = {429: "rate_limited", 408: "timeout"}


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Return the seconds a `Retry-After` value asks for (delta seconds or HTTP date), or None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return max(0.0, (moment - now).total_seconds())
    return seconds if seconds >= 0 and seconds != float("inf") else None


@contextlib.contextmanager
def map_transport_errors() -> Iterator[None]:
    """Translate aiohttp and timeout errors into `ArgosUnavailableError` (the one seam)."""
    try:
        yield
    except TimeoutError as exc:
        raise ArgosUnavailableError("timeout", cause=type(exc).__name__) from None
    except aiohttp.ClientError as exc:
        raise ArgosUnavailableError("connection", cause=type(exc).__name__) from None


async def status_error(
    response: aiohttp.ClientResponse,
) -> ArgosUnavailableError | ArgosRefusedError:
    """Return the error for a non-2xx response (reads at most 4 KiB of its body)."""
    status = response.status
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now=datetime.now(UTC))
    reason = _RETRIED.get(status, "server_error" if status >= 500 else None)
    if reason is not None:
        return ArgosUnavailableError(reason, http_status=status, retry_after=retry_after)
    error_code = None
    with contextlib.suppress(orjson.JSONDecodeError, aiohttp.ClientError, TimeoutError):
        body = orjson.loads(await response.content.read(_ERROR_BODY_BYTES))
        code = body.get("errorCode") if isinstance(body, dict) else None
        error_code = code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else None
    return ArgosRefusedError(status, error_code=error_code)
