"""
Answer one `GET /v3/submission` query of the fake ARGOS API: filter, order, page, encrypt.

Pure functions (no aiohttp), written from `/work/shared/docs/argos-webhooks.md` sections 2 and 4,
never from `bridge/`. Where ARGOS documents nothing, the fake makes a choice a robust client
must survive, and tests can change it:

* Order: newest first, by (`created_at`, `submission_id`). The cursor is that key of the page's
  last item (id = its `submission_id`, date = its `created_at` in the API format); the client
  sends it back as `nextpage_id` / `nextpage_date`.
* The cursor's place in the response is a `CursorFields` (the docs show only `Items`).
* `start_date` / `end_date` (inclusive) filter on the UTC date of `created_at`: the only
  timestamp every documented item variant carries, and the date the dashboard lists a
  submission under. A submission created before the window is not returned even if its result
  changed inside it: a reconciler's lookback must cover that.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.support.fake_argos_items import (
    JsonObject,
    RequestType,
    Submission,
    format_argos_time,
    parse_argos_time,
)

__all__ = [
    "DEFAULT_COUNT",
    "LAST_EVALUATED_KEY",
    "NEXTPAGE",
    "NEXT_PAGE_KEY",
    "BadQueryError",
    "CursorFields",
    "Query",
    "encrypt_argos",
    "parse_query",
    "select_page",
]

DEFAULT_COUNT = 50


@dataclass(frozen=True, slots=True)
class CursorFields:
    """Response fields carrying the next-page cursor; `container` nests them in an object."""

    id_field: str
    date_field: str
    container: str | None = None


NEXTPAGE = CursorFields("nextpage_id", "nextpage_date")
"""`{"Items": [...], "nextpage_id": ..., "nextpage_date": ...}`: the request's own names."""
NEXT_PAGE_KEY = CursorFields("nextPageKeyId", "nextPageKeyTime")
"""The names the sibling token-list API (`GET /submission/tokens`) uses."""
LAST_EVALUATED_KEY = CursorFields("submission_id", "created_at", container="LastEvaluatedKey")
"""DynamoDB's native `{"LastEvaluatedKey": {"submission_id": ..., "created_at": ...}}`."""


def encrypt_argos(plaintext: bytes, api_key: str) -> str:
    """Encrypt as ARGOS documents: AES-256-ECB, key SHA-256(api key), PKCS#7, base64."""
    key = hashlib.sha256(api_key.encode("utf-8")).digest()
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # ARGOS documents ECB
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


class BadQueryError(ValueError):
    """Raised when a query parameter is malformed; the message names it, never its value."""


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed `GET /v3/submission` query."""

    count: int = DEFAULT_COUNT
    start: date | None = None
    end: date | None = None
    after: tuple[datetime, str] | None = None  # the cursor: (created_at, submission_id)
    request_type: RequestType | None = None
    filters: Mapping[str, str] | None = None  # submission_id / userid / email -> exact value


_REQUEST_TYPES: dict[str, RequestType] = {
    "kyc": "kyc",
    "aml": "aml",
    "data": "data",
    "others": "others",
}


def parse_query(params: Mapping[str, str]) -> Query:
    """
    Parse the documented query parameters; unknown ones are ignored.

    Raises BadQueryError for a non-positive or non-numeric `count`, a date not `YYYY-MM-DD`,
    a `nextpage_date` not `YYYY-MM-DD-HH-MM-SS-ZZZ`, only one of `nextpage_id` /
    `nextpage_date`, or an unknown `request_type`.
    """

    def day(name: str) -> date | None:
        value = params.get(name)
        if value is None:
            return None
        try:
            if len(value) != 10:
                raise ValueError(value)
            return datetime.strptime(value, "%Y-%m-%d").date()  # a date
        except ValueError:
            raise BadQueryError(f"{name} must be YYYY-MM-DD") from None

    raw_count = params.get("count", str(DEFAULT_COUNT))
    if not raw_count.isdigit() or int(raw_count) < 1:
        raise BadQueryError("count must be a positive integer")
    cursor_id, cursor_date = params.get("nextpage_id"), params.get("nextpage_date")
    if (cursor_id is None) != (cursor_date is None):
        raise BadQueryError("nextpage_id and nextpage_date go together")
    after = None
    if cursor_id is not None and cursor_date is not None:
        try:
            after = (parse_argos_time(cursor_date), cursor_id)
        except ValueError:
            raise BadQueryError("nextpage_date must be YYYY-MM-DD-HH-MM-SS-ZZZ") from None
    request_type = params.get("request_type")
    if request_type is not None and request_type not in _REQUEST_TYPES:
        raise BadQueryError("request_type must be kyc, aml, data or others")
    return Query(
        count=int(raw_count),
        start=day("start_date"),
        end=day("end_date"),
        after=after,
        request_type=_REQUEST_TYPES.get(request_type or ""),
        filters={k: params[k] for k in ("submission_id", "userid", "email") if k in params},
    )


def select_page(
    submissions: Iterable[Submission],
    query: Query,
    *,
    cursor: CursorFields | None,
    trailing_empty_page: bool = False,
) -> JsonObject:
    """
    Return the response body `{"Items": [...], <cursor>}` for `query`.

    The cursor is sent only when more items follow (or, with `trailing_empty_page`, after
    every full page, DynamoDB-style), never when `cursor` is None: a full page then silently
    truncates the result.
    """

    def key(submission: Submission) -> tuple[datetime, str]:
        return (submission.created_at, submission.submission_id)

    chosen = sorted((s for s in submissions if _matches(s, query)), key=key, reverse=True)
    if query.after is not None:
        after = query.after
        chosen = [s for s in chosen if key(s) < after]
    page, more = chosen[: query.count], len(chosen) > query.count
    body: JsonObject = {"Items": [_project(s.to_item(), query.request_type) for s in page]}
    full = len(page) == query.count
    if cursor is not None and page and (more or (full and trailing_empty_page)):
        last = page[-1]
        fields: JsonObject = {
            cursor.id_field: last.submission_id,
            cursor.date_field: format_argos_time(last.created_at),
        }
        if cursor.container is None:
            body.update(fields)
        else:
            body[cursor.container] = fields
    return body


# What each `request_type` returns besides `submission_id`. A guess: the docs only say
# "KYC-related data", "AML-related data", "personal information data", "all ... excluding".
_TYPE_FIELDS: dict[RequestType, frozenset[str]] = {
    "kyc": frozenset(
        {"kyc", "reviewer", "created_at", "updated_at", "kyc_result_at", "pending_at"}
    ),
    "aml": frozenset({"aml"}),
    "data": frozenset({"data"}),
}


def _project(item: JsonObject, request_type: RequestType | None) -> JsonObject:
    if request_type is None:
        return item
    if request_type == "others":
        return {k: v for k, v in item.items() if k not in {"kyc", "aml", "data"}}
    kept = _TYPE_FIELDS[request_type] | {"submission_id"}
    return {k: v for k, v in item.items() if k in kept}


def _matches(submission: Submission, query: Query) -> bool:
    day = submission.created_at.astimezone(UTC).date()
    if query.start is not None and day < query.start:
        return False
    if query.end is not None and day > query.end:
        return False
    fields = {
        "submission_id": submission.submission_id,
        "userid": submission.userid,
        "email": submission.email,
    }
    return all(fields[name] == value for name, value in (query.filters or {}).items())
