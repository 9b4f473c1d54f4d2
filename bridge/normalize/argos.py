"""
Normalize one decrypted ARGOS ID Check webhook into a canonical `data` object.

Pure and total: any JSON object gives a `Normalized`, nothing raises. Which
trigger becomes which event type, and which field is its event time, is the
`TRIGGERS` table; field spellings live in `bridge.normalize.fields`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bridge.normalize.fields import SUBMISSION, UPDATED_DATA
from bridge.normalize.mapping import Mapper
from bridge.normalize.rules import FieldWarning, Group, Path, Rule, Table
from bridge.types import JSONObject

__all__ = ["FROM_DATA", "TRIGGERS", "UNKNOWN", "Normalized", "Trigger", "normalize"]


FROM_DATA = "*"
"""`Trigger.status` value: the submission's status is the normalized `data.status`."""


@dataclass(frozen=True, slots=True)
class Trigger:
    """How one `webhook_trigger` value is published, and what it says about the state."""

    event_type: str
    occurred_at: tuple[Path, ...] = ()  # canonical timestamp paths, most specific first
    table: Table | None = None  # top-level field table; None means SUBMISSION
    #: the KYC status this trigger reports (FROM_DATA: `data.status`); None: none
    status: str | None = None
    #: whether `occurred_at` is an ARGOS status time that orders this trigger's results
    #: against the submission's current state (else its events are never stale)
    ordered: bool = False
    #: the status when `data.status` is absent (FROM_DATA triggers that name their result)
    implied: str | None = None


@dataclass(frozen=True, slots=True)
class Normalized:
    """The canonical view of one webhook; `data` may share values with the payload."""

    event_type: str
    trigger: str | None
    data: JSONObject
    occurred_at: str | None
    subject: str | None
    key_hint: str | None
    warnings: tuple[FieldWarning, ...]
    status: str | None = None  # the KYC status it reports, if any
    status_time: str | None = None  # the ARGOS time ordering it, if its trigger is ordered


_REVIEWED: tuple[Path, ...] = (("review", "updated_at"), ("review", "kyc_result_at"))
_ACTION: tuple[Path, ...] = (("action", "created_at"),)

TRIGGERS: Mapping[str, Trigger] = {
    "created": Trigger("kyc.created", status=FROM_DATA),
    "retry": Trigger("kyc.retry", status=FROM_DATA),
    "submit": Trigger("kyc.submit", (("created_at",),), status="pending", ordered=True),
    "approved": Trigger(
        "kyc.approved", _REVIEWED, status=FROM_DATA, ordered=True, implied="approved"
    ),
    "rejected": Trigger(
        "kyc.rejected", _REVIEWED, status=FROM_DATA, ordered=True, implied="rejected"
    ),
    "updated": Trigger(
        "kyc.updated",
        (("updated_at",), *_REVIEWED),
        {**SUBMISSION, "data": Rule((), Group(UPDATED_DATA))},
        status=FROM_DATA,
        ordered=True,
    ),
    "delete": Trigger("kyc.delete", (("deleted_at",),), status="deleted", ordered=True),
    "injection": Trigger("kyc.injection", _ACTION),
    "injectionFail": Trigger("kyc.injection_fail", _ACTION),
    "aml": Trigger("kyc.aml"),
    "aml_monitor": Trigger("kyc.aml_monitor"),
    "token_expired": Trigger("kyc.token_expired", (("expired_at",), ("expected_expired_at",))),
    "faceAuth": Trigger(
        "kyc.face_auth", (("created_at",),), {**SUBMISSION, "data": Rule((), Group(SUBMISSION))}
    ),
}
"""Every documented ID Check trigger, spelled exactly as ARGOS sends it."""

UNKNOWN = Trigger(
    "kyc.unknown",
    (
        ("updated_at",),
        *_REVIEWED,
        ("deleted_at",),
        *_ACTION,
        ("expired_at",),
        ("expected_expired_at",),
        ("created_at",),
    ),
)
"""Any other trigger (e.g. ARGOS ID's `argos_id_auth`), or none at all."""


def _text(value: object) -> str | None:
    """Return a non-empty string that is valid UTF-8 (usable as a key), else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        value.encode()
    except UnicodeEncodeError:
        return None
    return value


def _first(timestamps: Mapping[Path, str], paths: tuple[Path, ...]) -> str | None:
    for path in paths:
        if path in timestamps:
            return timestamps[path]
    return None


def normalize(payload: JSONObject) -> Normalized:
    """
    Map a decrypted webhook onto canonical fields.

    Unmapped values land in `data.extra` as given; values kept as given are
    listed in `warnings` by path and code.
    """
    sent = payload.get("webhook_trigger")
    trigger = sent if isinstance(sent, str) else None
    spec = TRIGGERS.get(trigger, UNKNOWN) if trigger is not None else UNKNOWN
    mapper = Mapper()
    if trigger is None:
        mapper.warnings.append(FieldWarning("trigger", "missing_trigger"))
    body = dict(payload)
    body.pop("webhook_trigger", None)
    data: JSONObject = {}
    mapper.map_object(body, spec.table or SUBMISSION, data, (), ())
    if mapper.extra:
        data["extra"] = mapper.extra

    occurred_at = _first(mapper.timestamps, spec.occurred_at)
    subject = _text(data.get("submission_id"))
    token_id = _text(data.get("token_id"))
    status = spec.status
    if status == FROM_DATA:
        status = _text(data.get("status")) or spec.implied
    return Normalized(
        event_type=spec.event_type,
        trigger=trigger,
        data=data,
        occurred_at=occurred_at,
        subject=subject,
        key_hint=subject or (f"token:{token_id}" if token_id else None),
        warnings=tuple(mapper.warnings),
        status=status,
        status_time=occurred_at if spec.ordered else None,
    )
