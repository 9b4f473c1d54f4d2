"""
Structured logging: JSON lines on stdout through structlog, with the stdlib
loggers (aiohttp, aiokafka) routed through the same chain. Redaction is a
processor that runs last before rendering, so nothing bypasses it:

- values of personal or secret keys are replaced, wherever they nest;
- every configured secret (tokens, API keys, passwords) is scrubbed from
  every string, exception text and traceback included.

Log lines never carry payloads by design; redaction is the safety net.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import TextIO

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["PERSONAL_KEYS", "Redactor", "configure_logging"]

REDACTED = "[redacted]"
_PLAIN = (int, float, bool)

#: Keys whose values are personal data or secrets, normalized (lowercase, no _ or -).
PERSONAL_KEYS = frozenset(
    k.replace("_", "").lower()
    for k in (
        "full_name", "fullName", "full_name_en", "first_name", "last_name", "name",
        "email", "account_email", "admin", "admin_email", "date_of_birth", "birthDate",
        "identity_number", "identityNumber", "document_number", "documentNumber",
        "ssn_number", "ssnNumber", "phone_number", "phoneNumber", "ip_address", "ipAddress",
        "address", "gender", "nationality", "userid", "user_id", "applicant_id",
        "duplicated_information", "cf", "cf1", "cf2", "cf3", "custom_fields", "additional_list",
        "token", "tokens", "auth_token", "api_key", "api_keys", "authorization", "password",
        "secret", "body", "payload", "raw", "data", "plaintext", "ciphertext", "headers",
    )
)  # fmt: skip


class Redactor:
    """A structlog processor; call `add_secrets` before the first request."""

    def __init__(self) -> None:
        self._pattern: re.Pattern[str] | None = None
        self._secrets: set[str] = set()
        self._personal: dict[str, bool] = {}  # key -> is personal (memoized)

    def _is_personal(self, key: str) -> bool:
        found = self._personal.get(key)
        if found is None:
            found = key.replace("_", "").replace("-", "").lower() in PERSONAL_KEYS
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
                if isinstance(k, str)
                and k.replace("_", "").replace("-", "").lower() in PERSONAL_KEYS
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
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _stdlib_fields,
                render,
            ],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log would print request paths, which carry tokens.
    logging.getLogger("aiohttp.access").disabled = True
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def _stdlib_fields(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Give stdlib records a stable dotted event name; keep their text as `message`."""
    fields: MutableMapping[str, object] = event_dict
    logger = str(fields.pop("logger", "python"))
    fields["message"] = fields.get("event")
    fields["event"] = f"lib.{logger}"
    return event_dict
