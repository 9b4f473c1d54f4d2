"""
Read one `GET /v3/submission` response body into a `Page`: decrypt, find `Items`, find the cursor.

Pure (bytes in, value out). ARGOS documents the request's `nextpage_id` / `nextpage_date` but
not where a response carries the next cursor, so every style seen in ARGOS material is
accepted (`CURSOR_STYLES`, first match wins) and sent back as `nextpage_id` / `nextpage_date`:

    {"Items": [...], "nextpage_id": "s-1", "nextpage_date": "2025-03-01-10-00-00-000"}
    {"Items": [...], "nextPageKeyId": "s-1", "nextPageKeyTime": "..."}      token-list API
    {"Items": [...], "LastEvaluatedKey": {"submission_id": "s-1", "created_at": "..."}}
    {"Items": [...], "nextpageKey": {"id": "s-1", "created_at": "..."}}      legacy guide

DynamoDB-typed values (`{"S": "s-1"}`) are unwrapped. A page as long as the requested `count`
without a recognised cursor may hide more items: `Page.truncated` says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from bridge import crypto
from bridge.errors import DecryptionError
from bridge.reconcile.errors import ArgosResponseError
from bridge.types import JSONObject, JSONValue

__all__ = [
    "CURSOR_STYLES",
    "Cursor",
    "CursorStyle",
    "Page",
    "find_cursor",
    "parse_page",
    "safe_keys",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}", re.ASCII)
_MAX_KEYS = 20


@dataclass(frozen=True, slots=True)
class Cursor:
    """The next page's position, as the request parameters `nextpage_id` / `nextpage_date`."""

    nextpage_id: str
    nextpage_date: str

    def params(self) -> dict[str, str]:
        """Return the query parameters that ask for the page after this cursor."""
        return {"nextpage_id": self.nextpage_id, "nextpage_date": self.nextpage_date}


@dataclass(frozen=True, slots=True)
class CursorStyle:
    """Where a response carries the cursor: two fields, at the top or inside `container`."""

    id_field: str
    date_field: str
    container: str | None = None


CURSOR_STYLES: tuple[CursorStyle, ...] = (
    CursorStyle("nextpage_id", "nextpage_date"),
    CursorStyle("nextPageKeyId", "nextPageKeyTime"),
    CursorStyle("submission_id", "created_at", container="LastEvaluatedKey"),
    CursorStyle("id", "created_at", container="nextpageKey"),
)


@dataclass(frozen=True, slots=True)
class Page:
    """One response page: its items (JSON objects), the cursor, and what was odd about it."""

    items: tuple[JSONObject, ...]
    cursor: Cursor | None
    truncated: bool  # as many items as requested, yet no cursor: more may exist
    invalid_items: int = 0  # `Items[]` elements that are not JSON objects (dropped)
    encrypted: bool = False


def safe_keys(obj: JSONObject) -> tuple[str, ...]:
    """Return the identifier-like key names of `obj` (sorted, at most 20): safe to log."""
    return tuple(sorted(k for k in obj if _IDENTIFIER.fullmatch(k)))[:_MAX_KEYS]


def _loads(raw: bytes | str) -> JSONValue:
    try:
        value: JSONValue = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ArgosResponseError("not_json") from None
    return value


def _scalar(value: JSONValue) -> str | None:
    """Return a cursor part as text: a string, an integer, or a DynamoDB `{"S"|"N": ...}`."""
    if isinstance(value, dict) and len(value) == 1:
        value = value.get("S", value.get("N"))
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and value else None


def find_cursor(body: JSONObject) -> Cursor | None:
    """Return the first cursor `CURSOR_STYLES` recognises in `body`, else None."""
    for style in CURSOR_STYLES:
        holder = body if style.container is None else body.get(style.container)
        if not isinstance(holder, dict):
            continue
        page_id, page_date = (
            _scalar(holder.get(style.id_field)),
            _scalar(holder.get(style.date_field)),
        )
        if page_id is not None and page_date is not None:
            return Cursor(page_id, page_date)
    return None


def _decrypt(ciphertext: str, api_keys: Sequence[str]) -> JSONObject:
    """Try each key in turn: a wrong key passes the padding check about once in 256."""
    for key in api_keys:
        try:
            plaintext = orjson.loads(crypto.decrypt(ciphertext, (key,)))
        except (DecryptionError, orjson.JSONDecodeError):
            continue
        if isinstance(plaintext, dict):
            return plaintext
    raise ArgosResponseError("undecryptable")


def parse_page(body: bytes, *, api_keys: Sequence[str], count: int) -> Page:
    """
    Parse a 2xx response body, decrypting `{"data": "<base64>"}` with any of `api_keys`.

    Raises:
        ArgosResponseError: not JSON, not an object, undecryptable, or no `Items` list.
    """
    parsed = _loads(body)
    if not isinstance(parsed, dict):
        raise ArgosResponseError("not_object")
    encrypted = False
    ciphertext = parsed.get("data")
    if "Items" not in parsed and len(parsed) == 1 and isinstance(ciphertext, str):
        parsed, encrypted = _decrypt(ciphertext, api_keys), True
    items = parsed.get("Items")
    if not isinstance(items, list):
        raise ArgosResponseError("no_items", keys=safe_keys(parsed))
    objects = tuple(item for item in items if isinstance(item, dict))
    cursor = find_cursor(parsed) if objects else None
    return Page(
        items=objects,
        cursor=cursor,
        truncated=cursor is None and len(items) >= count,
        invalid_items=len(items) - len(objects),
        encrypted=encrypted,
    )
