"""
Map one `GET /v3/submission` item to the webhook payload ARGOS would have sent for its state.

Pure functions. The payload goes through the same `bridge.normalize` / `EventFactory` as a
webhook, so a reconciled result becomes the same canonical event as the webhook it stands for.

Which states produce an event (`TRIGGER_FOR_RESULT`):

* `approved` -> `approved`, `rejected` -> `rejected`: the results downstream waits for.
* `pending` -> `submit`: the submission is under manual review. Not a result, but the state
  a missed `submit` webhook announces; the state topic compares status times, so a pending
  older than a known result is simply not newer and is not published.
* `incomplete` -> no event. It is the absence of a result (the applicant has not finished,
  or is retrying), the API cannot tell `created` from `retry`, and those webhooks carry no
  status time, so the state topic could never order a reconciled `created` against them.
  A later result for the same submission is found by a later run.

The status time (`STATUS_TIME_FIELDS`, first present and parseable): `updated_at` (the last
status change), then `kyc_result_at` (first decision), `pending_at`, `created_at`. The
ARGOS notes list `kyc_result_at` first, but it is only the *first* decision: after an
approved result is changed to rejected, `kyc_result_at` still names the approval, and a
missed rejection would look no newer than the approval. `updated_at` first also matches the
normalizer (`review.updated_at`, then `review.kyc_result_at`). `memo.updated_at` (a dashboard
note) is never a status time. Compare the state with `ReconciledItem.status_time`: a `submit`
event's `occurred_at` is the item's `created_at` (as in the webhook), and an item without
`updated_at`/`kyc_result_at` gives an approved/rejected event without `occurred_at`.
Suggested rule for the caller: a result is missing when the state has no entry for the
submission, or holds another status with an older status time; the same status with a newer
time is an edit (e.g. an admin fixed a name), not a missed result.

Event id (`reconciled_event_id`): `uuid8(sha256(b"reconcile\\n" + orjson.dumps([project,
submission_id, status, status_time_rfc3339])))`. The same missed result found by two runs
(or two replicas) gets one id; a webhook id hashes `project + "\\n" + canonical payload`,
which can never equal these bytes (a JSON object starts with `{`, this list with `[`).

Mapped fields: `data.full_name` or `data.name` -> `full_name`; `cf1..cf3` -> `cf`;
`idcard_issuingCountry` / `idcard_issueDate` / `idcard_expireDate` -> `issuingCountry` /
`issueDate` / `expireDate`; the other identity fields of the webhooks as named; timestamps
`YYYY-MM-DD-HH-MM-SS-ZZZ` -> RFC 3339 UTC; `kyc.comment[]` / `kyc.commentCode[]` -> one
`", "`-joined string each. A `submit` payload carries what the submit webhook does (no
identity but `ipAddress`). Dropped (no webhook carries them): `image`, `projection`, `memo`,
`project_options`, scores, `kyc.attempts`, `aml`, unknown `data.*` fields.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import orjson

from bridge.events import uuid_from_digest
from bridge.normalize import format_utc, parse_timestamp
from bridge.reconcile.errors import UnmappableItemError
from bridge.types import JSONObject, JSONValue

__all__ = [
    "STATUS_TIME_FIELDS",
    "TRIGGER_FOR_RESULT",
    "ReconciledItem",
    "ReconciledStatus",
    "ReconciledTrigger",
    "map_item",
    "parse_api_time",
    "reconciled_event_id",
    "status_time",
]

ReconciledStatus = Literal["approved", "rejected", "pending"]
ReconciledTrigger = Literal["approved", "rejected", "submit"]

TRIGGER_FOR_RESULT: Mapping[str, ReconciledTrigger | None] = {
    "approved": "approved",
    "rejected": "rejected",
    "pending": "submit",
    "incomplete": None,
}
"""Every known `kyc.result`: the webhook trigger it is published as, or None (no event)."""

_STATUSES: Mapping[str, ReconciledStatus] = {
    "approved": "approved",
    "rejected": "rejected",
    "pending": "pending",
}
STATUS_TIME_FIELDS = ("updated_at", "kyc_result_at", "pending_at", "created_at")
_TIMES = ("updated_at", "created_at", "kyc_result_at", "pending_at")
# `data.*` name in the API -> webhook name (section 1 of the ARGOS notes).
_DATA_FIELDS = {
    "full_name": "full_name",
    "name": "full_name",
    "first_name": "first_name",
    "last_name": "last_name",
    "full_name_en": "full_name_en",
    "age_group": "age_group",
    "gender": "gender",
    "nationality": "nationality",
    "date_of_birth": "date_of_birth",
    "ip_address": "ipAddress",
    "idType": "idType",
    "idcard_issuingCountry": "issuingCountry",
    "idcard_issueDate": "issueDate",
    "idcard_expireDate": "expireDate",
    "identityNumber": "identityNumber",
    "documentNumber": "documentNumber",
    "phoneNumber": "phoneNumber",
    "ssnNumber": "ssnNumber",
}
_SUBMIT_FIELDS = ("email", "userid", "duplicated_information")
_RESULT_FIELDS = ("email", "userid", "duplicated_information", "applicant_id")


@dataclass(frozen=True, slots=True)
class ReconciledItem:
    """One API item that stands for a webhook: its trigger, status time, event id, payload."""

    project: str
    submission_id: str
    status: ReconciledStatus
    trigger: ReconciledTrigger
    status_time: datetime  # aware, UTC
    event_id: str  # reconciled_event_id(project, submission_id, status, status_time)
    # the webhook-shaped payload for EventFactory.build (do not mutate; not hashed)
    payload: JSONObject = field(hash=False)

    @property
    def status_time_text(self) -> str:
        """Return `status_time` as RFC 3339 UTC (as in canonical events)."""
        return format_utc(self.status_time)


def parse_api_time(value: JSONValue) -> datetime | None:
    """Return an API timestamp (`YYYY-MM-DD-HH-MM-SS-ZZZ`, or ISO 8601) as UTC, else None."""
    text = parse_timestamp(value) if isinstance(value, str) else None
    return datetime.fromisoformat(text) if text is not None else None


def status_time(item: Mapping[str, JSONValue]) -> datetime | None:
    """Return the item's status time: the first of `STATUS_TIME_FIELDS` that parses."""
    for name in STATUS_TIME_FIELDS:
        moment = parse_api_time(item.get(name))
        if moment is not None:
            return moment
    return None


def reconciled_event_id(project: str, submission_id: str, status: str, moment: datetime) -> str:
    """Return the deterministic event id of a reconciled result (see the module docstring)."""
    key = orjson.dumps([project, submission_id, status, format_utc(moment)])
    return uuid_from_digest(hashlib.sha256(b"reconcile\n" + key).digest())


def _text(obj: Mapping[str, JSONValue], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def _joined(value: JSONValue) -> str | None:
    if isinstance(value, str):
        return value or None
    parts = [part for part in value if isinstance(part, str)] if isinstance(value, list) else []
    return ", ".join(parts) or None


def _kyc_result(
    item: Mapping[str, JSONValue], status: str, kyc: Mapping[str, JSONValue]
) -> JSONObject:
    result: JSONObject = {"status": status}
    for name in _TIMES:
        raw = item.get(name)
        if isinstance(raw, str) and raw:
            result[name] = parse_timestamp(raw) or raw  # unparseable: kept, the normalizer warns
    reviewer = _text(item, "reviewer")
    comment, code = _joined(kyc.get("comment")), _joined(kyc.get("commentCode"))
    for name, value in (("reviewer", reviewer), ("comment", comment), ("commentCode", code)):
        if value is not None:
            result[name] = value
    return result


def _identity(data: Mapping[str, JSONValue]) -> JSONObject:
    found: JSONObject = {}
    for source, target in _DATA_FIELDS.items():
        value = data.get(source)
        if isinstance(value, str) and target not in found:
            found[target] = value
    return found


def map_item(item: JSONValue, *, project: str) -> ReconciledItem | None:
    """
    Map one `Items[]` element; return None when its state produces no event (`incomplete`).

    Raises:
        UnmappableItemError: not an object, no `submission_id`, an unknown `kyc.result`,
            or no parseable timestamp.
    """
    if not isinstance(item, dict):
        raise UnmappableItemError("not_object")
    submission_id = _text(item, "submission_id")
    if submission_id is None:
        raise UnmappableItemError("no_submission_id")
    kyc = item.get("kyc")
    kyc = kyc if isinstance(kyc, dict) else {}
    result = _text(kyc, "result") or ""
    if result not in TRIGGER_FOR_RESULT:
        raise UnmappableItemError("unknown_result")
    trigger, status = TRIGGER_FOR_RESULT[result], _STATUSES.get(result)
    if trigger is None or status is None:
        return None
    moment = status_time(item)
    if moment is None:
        raise UnmappableItemError("no_status_time")
    data = item.get("data")
    data = data if isinstance(data, dict) else {}
    payload: JSONObject = {"webhook_trigger": trigger, "submission_id": submission_id}
    if trigger == "submit":
        created = parse_timestamp(_text(item, "created_at") or "")
        if created is not None:
            payload["created_at"] = created
    payload["kyc_result"] = _kyc_result(item, status, kyc)
    for name in _SUBMIT_FIELDS if trigger == "submit" else _RESULT_FIELDS:
        if (value := _text(item, name)) is not None:
            payload[name] = value
    custom = {k: v for k in ("cf1", "cf2", "cf3") if isinstance(v := data.get(k), str)}
    if custom:
        payload["cf"] = dict(custom)
    identity = _identity(data)
    if trigger == "submit":  # the submit webhook carries no identity but the IP address
        identity = {k: v for k, v in identity.items() if k == "ipAddress"}
    payload.update({k: v for k, v in identity.items() if k not in payload})
    return ReconciledItem(
        project=project,
        submission_id=submission_id,
        status=status,
        trigger=trigger,
        status_time=moment,
        event_id=reconciled_event_id(project, submission_id, status, moment),
        payload=payload,
    )
