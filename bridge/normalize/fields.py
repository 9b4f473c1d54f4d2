"""
Every ARGOS field spelling, mapped to one canonical snake_case name.

Sources: docs/argos-webhooks.md §1 (old and new DEV pages, the GitBook guide).
Each table is `source key -> Rule(target path, kind)`; add a spelling here, not
an `if` in the normalizer.
"""

from __future__ import annotations

from bridge.normalize.rules import Group, Items, Kind, Rule, Table

__all__ = [
    "ACTION",
    "ADDITIONAL_ITEM",
    "AML_RESULT",
    "CUSTOM_FIELDS",
    "KYC_RESULT",
    "RECORD",
    "REFERENCE",
    "SUBMISSION",
    "UPDATED_DATA",
]


def _rules(kind: Kind, aliases: dict[str, str], *prefix: str) -> dict[str, Rule]:
    return {source: Rule((*prefix, target), kind) for source, target in aliases.items()}


def _same(*names: str) -> dict[str, str]:
    return {name: name for name in names}


CUSTOM_FIELDS: Table = _rules("text", _same("cf1", "cf2", "cf3"))
"""`cf` object: `{"cf1": .., "cf2": .., "cf3": ..}`."""

_FLAT_CUSTOM_FIELDS = _rules(
    "text",
    {"cf1": "cf1", "cf2": "cf2", "cf3": "cf3"}
    | {"Auth_cf1": "cf1", "Auth_cf2": "cf2", "Auth_cf3": "cf3"},
    "custom_fields",
)
"""Flat `cf1..cf3` (injection, faceAuth a/b) and `Auth_cf1..3` (faceAuth c)."""

_USER_ID = {"userid": "user_id", "user_id": "user_id", "User_id": "user_id"}

KYC_RESULT: Table = {
    "status": Rule(("status",), "text"),
    **_rules(
        "timestamp",
        {"updated_at": "updated_at", "update_at": "updated_at"}
        | _same("created_at", "kyc_result_at", "pending_at"),
        "review",
    ),
    **_rules(
        "text",
        {"commentCode": "comment_code", "comment_code": "comment_code"}
        | _same("reviewer", "comment"),
        "review",
    ),
}
"""`kyc_result` object: status at the top, the review trail under `review`."""

UPDATED_DATA: Table = {
    "update": Rule(("updated_fields",), "text_list"),
    "kyc_result": Rule((), Group(KYC_RESULT, scalar=Rule(("status",), "text"))),
    **_rules("timestamp", _same("created_at", "kyc_result_at", "pending_at"), "review"),
    "reviewer": Rule(("review", "reviewer"), "text"),
}
"""`updated` trigger's `data` object (`kyc_result` is a plain status string there)."""

ACTION: Table = {
    "type": Rule(("type",), "text"),
    "created_at": Rule(("created_at",), "timestamp"),
    "failCode": Rule(("fail_code",), "text"),
    "fail_code": Rule(("fail_code",), "text"),
}
"""`injection` / `injectionFail` `action` object."""

AML_RESULT: Table = _rules(
    "text",
    {"currentstatus": "current_status", "current_status": "current_status"}
    | {"currentStatus": "current_status", "risk_level_summary": "risk_level_summary"}
    | {"riskLevelSummary": "risk_level_summary"},
)
"""`aml` trigger's `aml_result` object."""

RECORD: Table = {
    **_rules(
        "text",
        {"recordId": "record_id", "record_id": "record_id"}
        | {"worklistId": "worklist_id", "worklist_id": "worklist_id"},
    ),
    "created_at": Rule(("created_at",), "timestamp"),
}
"""One element of `aml_monitor` `records`."""

ADDITIONAL_ITEM: Table = {
    **_rules("text", {"answer": "answer", "blockType": "block_type", "block_type": "block_type"}),
    "inputValue": Rule(("input_value",), "any"),
    "input_value": Rule(("input_value",), "any"),
}
"""One answer of the dashboard's Additional form; other keys stay in the item."""

REFERENCE: Table = {
    **_rules("text", _USER_ID | {"email": "email"}),
    "cf": Rule(("custom_fields",), Group(CUSTOM_FIELDS)),
    **_FLAT_CUSTOM_FIELDS,
}
"""faceAuth `data.reference`: the ID Check submission the face was matched against."""

_ADDITIONAL_LIST = Rule(
    ("additional_list",), Items(ADDITIONAL_ITEM, keep_unknown=True, wrap_object=True)
)

SUBMISSION: Table = {
    # identity of the submission and the submitter
    **_rules(
        "text",
        _same("submission_id", "email", "applicant_id", "duplicated_information")
        | {"Submission_id": "submission_id"}
        | _USER_ID
        | {"Auth_User_id": "user_id"}
        | {"tokenId": "token_id", "token_id": "token_id", "Token_id": "token_id"}
        | {"ipAddress": "ip_address", "ip_address": "ip_address"}
        | {"auth_id": "auth_id", "Authentication_id": "auth_id"},
    ),
    # person
    **_rules(
        "text",
        _same("age_group", "gender", "nationality", "full_name_en", "first_name", "last_name")
        | {"fullName": "full_name", "full_name": "full_name"}
        | {"firstName": "first_name", "lastName": "last_name"}
        | {"phoneNumber": "phone_number", "phone_number": "phone_number"}
        | {"ssnNumber": "ssn_number", "ssn_number": "ssn_number"},
    ),
    "date_of_birth": Rule(("date_of_birth",), "date"),
    # identity document
    **_rules(
        "text",
        {"idType": "id_type", "id_type": "id_type"}
        | {"issuingCountry": "issuing_country", "issuing_country": "issuing_country"}
        | {"identityNumber": "identity_number", "identity_number": "identity_number"}
        | {"documentNumber": "document_number", "document_number": "document_number"},
    ),
    **_rules(
        "date",
        {"issueDate": "issue_date", "issue_date": "issue_date"}
        | {"expireDate": "expire_date", "expire_date": "expire_date"},
    ),
    # status and its review trail
    "kyc_result": Rule((), Group(KYC_RESULT, scalar=Rule(("status",), "text"))),
    **_rules(
        "text",
        {"kyc_status": "status", "auth_status": "status", "Auth_Status": "status"}
        | {"retryCode": "retry_code", "retry_code": "retry_code"},
    ),
    "attempts": Rule(("attempts",), "integer"),
    # event times
    **_rules(
        "timestamp",
        _same("created_at", "updated_at", "expired_at", "expected_expired_at")
        | {"create_time": "created_at", "Create_Time": "created_at"}
        | {"update_time": "updated_at", "delete_time": "deleted_at"},
    ),
    # admin actions (updated, delete)
    **_rules("text", {"admin": "admin", "account_email": "admin_email", "comment": "comment"}),
    # token_expired
    **_rules("text", _same("expired_condition", "service")),
    # nested objects
    "cf": Rule(("custom_fields",), Group(CUSTOM_FIELDS)),
    **_FLAT_CUSTOM_FIELDS,
    "additional_list": _ADDITIONAL_LIST,
    "addtional_list": _ADDITIONAL_LIST,
    "aml_result": Rule(("aml_result",), Group(AML_RESULT)),
    "records": Rule(("records",), Items(RECORD)),
    "action": Rule(("action",), Group(ACTION)),
    "reference": Rule(("reference",), Group(REFERENCE)),
}
"""Top-level keys of every ID Check trigger (and of faceAuth's `data` object)."""
