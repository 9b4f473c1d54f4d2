"""
Structured logging: JSON lines on stdout through structlog, with the stdlib
loggers (aiohttp, aiokafka) routed through the same chain. Redaction is a
processor that runs last before rendering, so nothing bypasses it:

- values of personal or secret keys are replaced, wherever they nest (the personal
  keys are the schemas' `x-kyc-pii` marking, the same the encryption reads);
- every configured secret (tokens, API keys, passwords) is scrubbed from
  every string, exception text and traceback included.

Log lines never carry payloads by design; redaction is the safety net.

Library lines (aiokafka, aiohttp, asyncio) are rate-limited: during an outage
aiokafka repeats the same few errors many times a second. Each message
template passes once per interval; the first repeat after the interval
carries the number of repeats it stands for (`suppressed`). The bridge's own
lines (state transitions included) are never limited.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, MutableMapping
from typing import TextIO

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["ALWAYS_REDACTED", "LibraryRateLimit", "Redactor", "configure_logging"]

REDACTED = "[redacted]"
_PLAIN = (int, float, bool)

#: Keys redacted whatever the schemas say (normalized: lowercase, no _ or -): secrets,
#: whole payloads, and the identifiers logs never need. Personal data keys come from
#: the schemas' `x-kyc-pii` marking (`bridge.pii.marking.personal_keys`).
ALWAYS_REDACTED = frozenset(
    k.replace("_", "").lower()
    for k in (
        "token", "tokens", "auth_token", "api_key", "api_keys", "authorization", "password",
        "secret", "body", "payload", "raw", "data", "plaintext", "ciphertext", "headers",
        "protected", "wrapped_key", "userid", "user_id", "applicant_id",
    )
)  # fmt: skip


class Redactor:
    """A structlog processor; call `add_secrets` before the first request."""

    def __init__(self, personal_keys: Iterable[str] = ()) -> None:
        """Redact `personal_keys` (normalized, from the schema marking) and the secrets."""
        self._keys = ALWAYS_REDACTED | frozenset(personal_keys)
        self._pattern: re.Pattern[str] | None = None
        self._secrets: set[str] = set()
        self._personal: dict[str, bool] = {}  # key -> is personal (memoized)

    def _is_personal(self, key: str) -> bool:
        found = self._personal.get(key)
        if found is None:
            found = key.replace("_", "").replace("-", "").lower() in self._keys
            if len(self._personal) < 4096:
                self._personal[key] = found
        return found

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Scrub these exact strings from every log line from now on."""
        self._secrets.update(s for s in secrets if len(s) >= 4)
        if self._secrets:
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def scrub(self, text: str) -> str:
        """Return `text` with every known secret replaced."""
        return self._pattern.sub(REDACTED, text) if self._pattern else text

    def _clean(self, value: object, depth: int = 0) -> object:
        if isinstance(value, str):
            return self.scrub(value)
        if depth > 6:
            return REDACTED
        if isinstance(value, dict):
            return {
                k: REDACTED
                if isinstance(k, str) and k.replace("_", "").replace("-", "").lower() in self._keys
                else self._clean(v, depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple | set):
            return [self._clean(v, depth + 1) for v in value]
        if isinstance(value, bytes):
            return REDACTED
        return value

    def __call__(self, _: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        cleaned: EventDict = {}
        for key, value in event_dict.items():
            if self._is_personal(key):
                cleaned[key] = REDACTED
            elif value is None or type(value) in _PLAIN:
                cleaned[key] = value  # numbers and booleans cannot carry text
            else:
                cleaned[key] = self._clean(value, 1)
        return cleaned


class LibraryRateLimit(logging.Filter):
    """A stdlib filter: one line per (logger, level, message template) per interval."""

    def __init__(
        self, interval_s: float = 60.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._interval = interval_s
        self._clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self._interval:
            self._seen[key] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            record.suppressed = last[1]
        if len(self._seen) > 1024:  # templates are few; never let the table grow
            self._seen.clear()
        self._seen[key] = (now, 0)
        return True


def configure_logging(level: str, redactor: Redactor, *, stream: TextIO | None = None) -> None:
    """Configure structlog and the stdlib root logger once, at startup."""
    out = stream or sys.stdout
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redactor,
    ]

    def render(_: WrappedLogger, __: str, event_dict: EventDict) -> str:
        return orjson.dumps(event_dict, default=str).decode("utf-8")

    structlog.configure(
        processors=[*shared, render],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.addFilter(LibraryRateLimit())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _stdlib_fields,
                render,
            ],
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(allow=["suppressed"]),
                *shared,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log would print request paths, which carry tokens.
    logging.getLogger("aiohttp.access").disabled = True
    # Libraries whose DEBUG output carries what must never be logged: botocore prints KMS
    # request and response bodies (a data key's content key in `Plaintext`) and signed
    # headers (the AWS session token); aiokafka prints records. WARNING at least.
    floor = max(logging.WARNING, logging.getLevelName(level))
    for name in _CAPPED:
        logging.getLogger(name).setLevel(floor)


_CAPPED = ("aiokafka", "botocore", "boto3", "urllib3", "s3transfer")


def _stdlib_fields(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Give stdlib records a stable dotted event name; keep their text as `message`."""
    fields: MutableMapping[str, object] = event_dict
    logger = str(fields.pop("logger", "python"))
    fields["message"] = fields.get("event")
    fields["event"] = f"lib.{logger}"
    return event_dict
