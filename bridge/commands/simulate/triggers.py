"""
One payload builder per ARGOS ID Check `webhook_trigger`, about one
submission whose clock moves forward with every webhook it produces.
Field spellings follow the ARGOS samples (old and new DEV pages).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bridge.commands.simulate.fake import Person, custom_fields, person, uid, uuid4
from bridge.types import JSONObject, JSONValue

__all__ = ["BUILDERS", "Submission"]

_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_REJECTIONS = (
    ("R102", "The ID document has expired."),
    ("R205", "The selfie does not match the document."),
    ("R311", "The document image is not readable."),
)
_RETRY_CODES = ("image_too_blurry", "glare_detected", "face_not_matched", "document_cut_off")
_UPDATABLE = ("kycStatus", "first_name", "last_name", "expireDate", "documentNumber", "idType")


@dataclass(slots=True)
class Submission:
    """One applicant's submission: identifiers, person and a moving clock."""

    rng: random.Random
    who: Person = field(init=False)
    submission_id: str = field(init=False)
    applicant_id: str = field(init=False)
    duplicated: str = field(init=False)
    cf: JSONObject = field(init=False)
    clock: datetime = field(init=False)
    attempts: int = 0
    status: str = "approved"

    def __post_init__(self) -> None:
        rng = self.rng
        self.who = person(rng)
        self.submission_id = uuid4(rng)
        self.applicant_id = f"apl_{rng.getrandbits(48):012x}"
        self.duplicated = f"{rng.getrandbits(128):032x}"
        self.cf = custom_fields(rng)
        self.clock = _EPOCH + timedelta(seconds=rng.randrange(300 * 86400))

    def tick(self, low: float, high: float) -> str:
        """Advance the clock by `low`-`high` seconds; return it as ARGOS formats it."""
        self.clock += timedelta(milliseconds=self.rng.randrange(int(low * 1e3), int(high * 1e3)))
        return self.clock.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def ids(self, *, cf: bool = True) -> JSONObject:
        """The identifiers most triggers carry."""
        w = self.who
        base: JSONObject = {"submission_id": self.submission_id, "email": w.email}
        base |= {"userid": w.user_id, "tokenId": w.token_id}
        return base | {"cf": dict(self.cf)} if cf else base

    def person_fields(self) -> JSONObject:
        """The applicant as read from the document."""
        w = self.who
        return {
            "age_group": w.age_group,
            "gender": w.gender,
            "date_of_birth": w.date_of_birth.isoformat(),
            "nationality": w.nationality,
            "full_name": w.full_name,
            "first_name": w.first_name,
            "last_name": w.last_name,
        }


def _created(s: Submission, trigger: str) -> JSONObject:
    body: JSONObject = {"webhook_trigger": trigger, **s.ids(), "ipAddress": s.who.ip_address}
    body["kyc_result"] = {"status": "incomplete"}
    if s.attempts or trigger == "retry":
        s.attempts += 1
        body |= {"retryCode": s.rng.choice(_RETRY_CODES), "attempts": s.attempts}
    s.tick(20, 600)
    return body


def _submit(s: Submission) -> JSONObject:
    body: JSONObject = {"webhook_trigger": "submit", "created_at": s.tick(5, 120), **s.ids()}
    return body | {"duplicated_information": s.duplicated, "ipAddress": s.who.ip_address}


def _reviewed(s: Submission, status: str) -> JSONObject:
    w = s.who
    result: JSONObject = {"status": status, "created_at": s.tick(1, 30)}
    result |= {"pending_at": s.tick(1, 20), "reviewer": s.rng.choice(("system", "agent"))}
    if status == "rejected":
        code, text = s.rng.choice(_REJECTIONS)
        result |= {"comment": text, "commentCode": code}
    result["updated_at"] = result["kyc_result_at"] = s.tick(30, 900)
    s.status = status
    body: JSONObject = {"webhook_trigger": status, "kyc_result": result, **s.ids()}
    body |= {"applicant_id": s.applicant_id, "duplicated_information": s.duplicated}
    body |= s.person_fields() | {"ipAddress": w.ip_address, "phoneNumber": w.phone_number}
    return body | {
        "idType": w.id_type,
        "issuingCountry": w.nationality,
        "issueDate": w.issue_date.isoformat(),
        "expireDate": (w.issue_date + timedelta(days=3652)).isoformat(),
        "identityNumber": w.identity_number,
        "documentNumber": w.document_number,
    }


def _updated(s: Submission) -> JSONObject:
    changed: list[JSONValue] = list(s.rng.sample(_UPDATABLE, 3))
    data: JSONObject = {"update": changed, "kyc_result": s.status, "pending_at": s.tick(1, 9)}
    body: JSONObject = {"webhook_trigger": "updated", **s.ids(cf=False), "data": data}
    body |= {"admin": "compliance.ops@acme-fintech.example", "update_time": s.tick(3600, 86400)}
    return body | s.person_fields() | {"duplicated_information": s.duplicated}


def _aml(s: Submission) -> JSONObject:
    flag = s.rng.random() < 0.1
    result: JSONObject = {"currentstatus": "Red Flag" if flag else "No Match"}
    result["risk_level_summary"] = "HIGH" if flag else "LOW"
    s.tick(60, 600)
    body: JSONObject = {"webhook_trigger": "aml", **s.ids(), "aml_result": result}
    return body | {"duplicated_information": s.duplicated}


def _aml_monitor(s: Submission) -> JSONObject:
    records: list[JSONValue] = []
    for _ in range(s.rng.randrange(1, 4)):
        record_id = f"rec_{s.rng.randrange(10**8):08d}"
        worklist = f"wl_{s.rng.randrange(10**4):04d}"
        records.append({"recordId": record_id, "worklistId": worklist, "created_at": s.tick(0, 2)})
    return {"webhook_trigger": "aml_monitor", **s.ids(), "records": records}


def _injection(s: Submission, trigger: str) -> JSONObject:
    action: JSONObject = {"type": s.rng.choice(("address", "document", "selfie"))}
    action["created_at"] = s.tick(60, 3600)
    if trigger == "injectionFail":
        action["failCode"] = s.rng.choice(("distanceChecks_ipGeo", "deviceMismatch"))
    body: JSONObject = {"webhook_trigger": trigger, "action": action, **s.ids(cf=False)}
    return body | {"kyc_status": s.status, "applicant_id": s.applicant_id}


def _face_auth(s: Submission) -> JSONObject:
    data: JSONObject = {"submission_id": s.submission_id, "auth_status": s.status}
    data |= {"create_time": s.tick(3600, 7 * 86400), "user_id": s.who.user_id, **s.cf}
    return {"webhook_trigger": "faceAuth", "auth_id": uid(s.rng, "fa_01"), "data": data}


def _token_expired(s: Submission) -> JSONObject:
    body: JSONObject = {"webhook_trigger": "token_expired", "token_id": uid(s.rng, "tok_")}
    if s.rng.random() < 0.5:
        body |= {"expired_condition": "count", "expired_at": s.tick(60, 86400)}
        return body | {"service": "idCheck"}
    body |= {"expired_condition": "time", "expected_expired_at": s.tick(86400, 7 * 86400)}
    return body | {"service": s.rng.choice(("idCheck", "faceAuth"))}


def _delete(s: Submission) -> JSONObject:
    body: JSONObject = {"webhook_trigger": "delete", "submission_id": s.submission_id}
    body |= {"account_email": "dpo@acme-fintech.example", "delete_time": s.tick(86400, 9e6)}
    return body | {"comment": f"GDPR erasure request #{s.rng.randrange(1000, 9999)}"}


BUILDERS: dict[str, Callable[[Submission], JSONObject]] = {
    "created": lambda s: _created(s, "created"),
    "retry": lambda s: _created(s, "retry"),
    "submit": _submit,
    "approved": lambda s: _reviewed(s, "approved"),
    "rejected": lambda s: _reviewed(s, "rejected"),
    "updated": _updated,
    "aml": _aml,
    "aml_monitor": _aml_monitor,
    "delete": _delete,
    "injection": lambda s: _injection(s, "injection"),
    "injectionFail": lambda s: _injection(s, "injectionFail"),
    "token_expired": _token_expired,
    "faceAuth": _face_auth,
}
"""Trigger -> payload builder (without `additional_list` padding)."""
