"""The schema corpus of the personal-data tests: a test marking and every example event."""

from __future__ import annotations

from pathlib import Path

import orjson

from bridge.pii.paths import PII_MARK, PiiTree
from bridge.types import JSONObject

__all__ = [
    "DOCUMENTS",
    "EXAMPLES",
    "EXPECTED_FIELDS_TREE",
    "SCHEMAS",
    "marked_schemas",
    "unmarked_schemas",
]

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
FIELDS_ID = "urn:kyc-bridge:schema:argos.fields.v1"
# A fixed test marking, set in a copy of the schemas stripped of the real one (which
# tests/test_pii_marking.py checks), so these tests do not move when the real one does:
# direct properties, a property inside a $def (review.comment), a property of array items
# (additional_list), and a whole $def used in two places (custom_fields).
MARKED_PROPERTIES = [
    *("email", "full_name", "full_name_en", "first_name", "last_name", "phone_number"),
    *("ssn_number", "ip_address", "date_of_birth", "identity_number", "document_number"),
    *("duplicated_information", "admin", "admin_email", "comment", "extra"),
]
MARKED_DEFS = [("review", "comment"), ("additional_item", "input_value"), ("reference", "email")]
EXPECTED_FIELDS_TREE: PiiTree = {
    **dict.fromkeys(MARKED_PROPERTIES, True),
    "review": {"comment": True},
    "additional_list": True,
    "custom_fields": True,
    "reference": {"email": True, "custom_fields": True},
}


def _unmark(value: object) -> None:
    """Delete every `x-kyc-pii` member inside `value`, in place."""
    if isinstance(value, dict):
        value.pop(PII_MARK, None)
        for item in value.values():
            _unmark(item)
    elif isinstance(value, list):
        for item in value:
            _unmark(item)


def unmarked_schemas() -> list[JSONObject]:
    """Return every schema document without any `x-kyc-pii` marking."""
    documents: list[JSONObject] = []
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        document = orjson.loads(path.read_bytes())
        _unmark(document)
        documents.append(document)
    return documents


def marked_schemas() -> list[JSONObject]:
    """Return every schema document, with only the test marking (on argos.fields.v1)."""
    documents: list[JSONObject] = []
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        document = orjson.loads(path.read_bytes())  # Any: marked in place below
        _unmark(document)
        if document["$id"] == FIELDS_ID:
            for name in MARKED_PROPERTIES:
                document["properties"][name][PII_MARK] = True
            for definition, name in MARKED_DEFS:
                document["$defs"][definition]["properties"][name][PII_MARK] = True
            document["$defs"]["custom_fields"][PII_MARK] = True
        documents.append(document)
    return documents


def _examples() -> list[tuple[str, JSONObject]]:
    found = []
    for path in sorted((SCHEMAS / "examples").glob("*/*/*.json")):
        envelope = orjson.loads(path.read_bytes())
        if "pii" in envelope or "data" not in envelope:
            continue  # v2 envelopes (reveal drops `pii`) and values that are not envelopes
        found.append((f"urn:kyc-bridge:schema:{envelope['schema']}", envelope))
    return found


EXAMPLES = _examples()
DOCUMENTS = marked_schemas()
