"""
Build the items of the fake ARGOS `GET /v3/submission` API, typed or from webhook fixtures.

Written from `/work/shared/docs/argos-webhooks.md` (section 1 for field names, section 4 for the
item shape) and the public GET/Submission pages, never from `bridge/`: the fake must stay
independent of the code it tests. Everything ARGOS leaves undocumented is marked *guess*.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeAlias, get_args

__all__ = [
    "FIXTURES_DIR",
    "JsonObject",
    "JsonValue",
    "KycResult",
    "Memo",
    "NameField",
    "RequestType",
    "Submission",
    "format_argos_time",
    "load_webhook_fixture",
    "parse_argos_time",
    "submission_from_webhook",
]

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonObject: TypeAlias = dict[str, JsonValue]

KycResult = Literal["incomplete", "pending", "approved", "rejected"]
"""Values of `kyc.result`: the webhook statuses, plus `pending` (what `submit` announces)."""
NameField = Literal["full_name", "name"]
"""`data.full_name` (single-submission example) or `data.name` (per-user, per-email, list)."""
RequestType = Literal["kyc", "aml", "data", "others"]

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "argos"
_KYC_RESULTS: dict[str, KycResult] = {value: value for value in get_args(KycResult)}
# Webhook triggers that describe the state GET /v3/submission reports. The others (aml,
# aml_monitor, faceAuth, token_expired, ...) have no `kyc.result` counterpart.
_STATE_TRIGGERS = frozenset(
    {"created", "retry", "submit", "approved", "rejected", "updated", "injection"}
)
# Webhook field -> `data` field, as the single-submission example names them.
_DATA_FIELDS = {
    "age_group": "age_group",
    "first_name": "first_name",
    "last_name": "last_name",
    "full_name_en": "full_name_en",
    "gender": "gender",
    "nationality": "nationality",
    "date_of_birth": "date_of_birth",
    "ipAddress": "ip_address",
    "idType": "idType",
    "issuingCountry": "idcard_issuingCountry",
    "issueDate": "idcard_issueDate",
    "expireDate": "idcard_expireDate",
    "identityNumber": "identityNumber",  # guess: not in the API examples
    "documentNumber": "documentNumber",  # guess
    "phoneNumber": "phoneNumber",  # guess
    "ssnNumber": "ssnNumber",  # guess
}


def format_argos_time(moment: datetime) -> str:
    """
    Render `moment` in the API's `YYYY-MM-DD-HH-MM-SS-ZZZ` format (UTC, ZZZ = milliseconds).

    Raises ValueError for a naive datetime.
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetime: give it a timezone")
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%d-%H-%M-%S}-{utc.microsecond // 1000:03d}"


def parse_argos_time(text: str) -> datetime:
    """
    Parse an API timestamp `YYYY-MM-DD-HH-MM-SS-ZZZ` (UTC) into an aware datetime.

    Raises ValueError when `text` is not in that format.
    """
    head, _, millis = text.rpartition("-")
    if len(millis) != 3 or not millis.isdigit():
        raise ValueError("not an ARGOS API timestamp")
    moment = datetime.strptime(head, "%Y-%m-%d-%H-%M-%S").replace(tzinfo=UTC)
    return moment.replace(microsecond=int(millis) * 1000)


@dataclass(frozen=True, slots=True)
class Memo:
    """A dashboard memo (`memo: {text, updated_at}` in some list examples)."""

    text: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Submission:
    """
    One ARGOS submission as the API reports it; `None` fields are left out of the item.

    `data` holds the other `data.*` fields (`cf1`, `gender`, ...) and `extra` any further
    top-level fields (e.g. `aml`), both verbatim. `attempts` items are a *guess* (undocumented).
    """

    submission_id: str
    created_at: datetime
    result: KycResult = "incomplete"
    updated_at: datetime | None = None
    kyc_result_at: datetime | None = None
    pending_at: datetime | None = None
    reviewer: str | None = None
    email: str | None = None
    userid: str | None = None
    duplicated_information: str | None = None
    full_name: str | None = None
    name_field: NameField = "full_name"
    data: Mapping[str, JsonValue] = field(default_factory=dict)
    comment: tuple[str, ...] = ()
    comment_code: tuple[str, ...] = ()
    attempts: tuple[JsonValue, ...] = ()
    recognition_score: str | None = None
    argos_score: str | None = None
    image: Mapping[str, JsonValue] | None = None
    projection: Mapping[str, JsonValue] | None = None
    memo: Memo | None = None
    project_options: Mapping[str, JsonValue] | None = None
    extra: Mapping[str, JsonValue] = field(default_factory=dict)

    def with_result(
        self,
        result: KycResult,
        *,
        at: datetime,
        reviewer: str | None = None,
        comment: tuple[str, ...] = (),
        comment_code: tuple[str, ...] = (),
    ) -> Submission:
        """
        Return this submission moved to `result` at `at`, as ARGOS would record it.

        `updated_at` becomes `at`; `kyc_result_at` (first decision) is set once, by the first
        approved/rejected; `pending_at` by a move to pending. Comments replace the old ones.
        """
        decided = result in ("approved", "rejected") and self.kyc_result_at is None
        return replace(
            self,
            result=result,
            updated_at=at,
            kyc_result_at=at if decided else self.kyc_result_at,
            pending_at=at if result == "pending" else self.pending_at,
            reviewer=reviewer if reviewer is not None else self.reviewer,
            comment=comment,
            comment_code=comment_code,
        )

    def to_item(self) -> JsonObject:
        """Return the `Items[]` element for this submission (timestamps in the API format)."""
        data: JsonObject = {} if self.full_name is None else {self.name_field: self.full_name}
        data.update(self.data)
        item: JsonObject = {"data": data, "submission_id": self.submission_id}
        optional: dict[str, str | None] = {
            "email": self.email,
            "duplicated_information": self.duplicated_information,
            "created_at": format_argos_time(self.created_at),
            "updated_at": _format_optional(self.updated_at),
            "kyc_result_at": _format_optional(self.kyc_result_at),
            "pending_at": _format_optional(self.pending_at),
            "reviewer": self.reviewer,
            "recognition_score": self.recognition_score,
            "argos_score": self.argos_score,
            "userid": self.userid,
        }
        item.update({key: value for key, value in optional.items() if value is not None})
        for key, mapping in (("image", self.image), ("project_options", self.project_options)):
            if mapping is not None:
                item[key] = dict(mapping)
        if self.memo is not None:
            memo_time = format_argos_time(self.memo.updated_at)
            item["memo"] = {"text": self.memo.text, "updated_at": memo_time}
        item["kyc"] = {
            "result": self.result,
            "comment": list(self.comment),
            "commentCode": list(self.comment_code),
            "attempts": list(self.attempts),
        }
        if self.projection is not None:
            item["projection"] = dict(self.projection)
        item.update(self.extra)
        return item


def submission_from_webhook(
    payload: Mapping[str, JsonValue],
    *,
    base: Submission | None = None,
    default_created_at: datetime | None = None,
    name_field: NameField = "full_name",
) -> Submission:
    """
    Return the API state after the webhook `payload`, starting from `base` (or from nothing).

    Maps `kyc_result.status` (`data.kyc_result` in `updated`, `kyc_status` in `injection`,
    `pending` for `submit`) to `result`, ISO 8601 times to datetimes, `kyc_result.comment` /
    `commentCode` to one-element tuples, `retryCode` to a new `attempts` entry (*guess*), `cf`
    to `data.cf1..3` and identity fields to `data`. `created_at` is kept from `base`, else
    taken from the payload, else `default_created_at`, else the earliest time the payload
    carries. Raises ValueError for a trigger without API state, a payload without
    `submission_id` or with an unknown status, an unparseable time or no time at all.
    """
    trigger = payload.get("webhook_trigger")
    if trigger not in _STATE_TRIGGERS:
        raise ValueError(f"webhook_trigger {trigger!r} has no GET /v3/submission state")
    submission_id = _text(payload, "submission_id")
    if submission_id is None or (base is not None and base.submission_id != submission_id):
        raise ValueError("missing submission_id, or not the one of `base`")
    kyc = _object(payload, "kyc_result")
    update = _object(payload, "data") if trigger == "updated" else {}
    status = {
        "submit": "pending",
        "updated": _text(update, "kyc_result"),
        "injection": _text(payload, "kyc_status"),
    }.get(str(trigger), _text(kyc, "status"))
    result = _KYC_RESULTS.get(status or "") or (base.result if base and status is None else None)
    if result is None:
        raise ValueError("unknown or missing KYC status")
    updated_at = _time(kyc, "updated_at") or _time(payload, "update_time")
    kyc_result_at = _time(kyc, "kyc_result_at")
    pending_at = _time(kyc, "pending_at") or _time(update, "pending_at")
    own_created = (
        _time(kyc, "created_at")
        or _time(payload, "created_at")
        or _time(_object(payload, "action"), "created_at")
    )
    known = [t for t in (own_created, updated_at, kyc_result_at, pending_at) if t is not None]
    created_at = (
        (base.created_at if base is not None else None)
        or own_created
        or default_created_at
        or (min(known) if known else None)
    )
    if created_at is None:
        raise ValueError("the payload carries no time: pass default_created_at")
    start = base or Submission(submission_id, created_at, name_field=name_field)
    data = dict(start.data)
    data.update({f: v for f, v in _object(payload, "cf").items() if isinstance(v, str)})
    data.update({_DATA_FIELDS[k]: v for k, v in payload.items() if k in _DATA_FIELDS})
    retry_code = _text(payload, "retryCode")
    comment, code = _text(kyc, "comment"), _text(kyc, "commentCode")
    return replace(
        start,
        result=result,
        created_at=created_at,
        updated_at=updated_at or start.updated_at,
        kyc_result_at=kyc_result_at or start.kyc_result_at,
        pending_at=pending_at or start.pending_at,
        reviewer=_text(kyc, "reviewer") or _text(update, "reviewer") or start.reviewer,
        email=_text(payload, "email") or start.email,
        userid=_text(payload, "userid") or start.userid,
        duplicated_information=_text(payload, "duplicated_information")
        or start.duplicated_information,
        full_name=_text(payload, "full_name") or _text(payload, "fullName") or start.full_name,
        data=data,
        comment=(comment,) if comment is not None else start.comment,
        comment_code=(code,) if code is not None else start.comment_code,
        attempts=(*start.attempts, retry_code) if retry_code else start.attempts,
    )


def load_webhook_fixture(name: str) -> JsonObject:
    """
    Return the webhook `payload` of `tests/fixtures/argos/<name>.json`.

    Raises FileNotFoundError for an unknown name, ValueError when it holds no payload object.
    """
    document = json.loads((FIXTURES_DIR / f"{name}.json").read_text(encoding="utf-8"))
    payload = document.get("payload") if isinstance(document, dict) else None
    if not isinstance(payload, dict):
        raise ValueError(f"fixture {name!r} has no payload object")
    return payload


def _format_optional(moment: datetime | None) -> str | None:
    return None if moment is None else format_argos_time(moment)


def _text(obj: Mapping[str, JsonValue], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None


def _object(obj: Mapping[str, JsonValue], key: str) -> Mapping[str, JsonValue]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def _time(obj: Mapping[str, JsonValue], key: str) -> datetime | None:
    """Parse an ISO 8601 webhook time, or the API format (`injection.action.created_at`)."""
    text = _text(obj, key)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return parse_argos_time(text)
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
