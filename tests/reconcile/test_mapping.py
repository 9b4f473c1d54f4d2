"""`map_item` turns the fake API's items into the webhook payloads they stand for."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime

import pytest

from bridge.events import EventFactory, derive_event_id
from bridge.normalize import format_utc, normalize
from bridge.reconcile.errors import UnmappableItemError
from bridge.reconcile.mapping import (
    TRIGGER_FOR_RESULT,
    map_item,
    reconciled_event_id,
    status_time,
)
from bridge.schemas import load_registry
from bridge.types import JSONObject, JSONValue
from tests.support.fake_argos_items import (
    FIXTURES_DIR,
    Memo,
    NameField,
    Submission,
    load_webhook_fixture,
    submission_from_webhook,
)

CREATED = datetime(2025, 1, 1, tzinfo=UTC)
# Every fixture the fake can hold as API state: the trigger its item maps to (None: no
# event) and the status time. Where the webhook has an event time, it is the same one.
EXPECTED: dict[str, tuple[str | None, str | None]] = {
    "additional_list_misspelled": ("approved", "2025-04-22T14:00:31.009Z"),
    "additional_list_object": ("approved", "2025-03-02T22:48:19.650Z"),
    "approved_new_id_document": ("approved", "2025-04-02T16:45:10.006Z"),
    "approved_new_knowledge_based": ("approved", "2025-04-07T08:03:33.519Z"),
    "approved_old_id_document": ("approved", "2025-03-14T09:21:07.412Z"),
    "created_no_retry": (None, None),
    "created_with_retry": (None, None),
    "injection_custom_timestamp": ("approved", "2025-03-21T06:44:18.093Z"),
    "injection_iso_timestamp": ("approved", "2024-06-21T03:24:57.565Z"),
    "null_fields": ("submit", "2025-03-18T13:07:55.218Z"),
    "rejected": ("rejected", "2025-03-20T11:02:48.950Z"),
    "retry": (None, None),
    "submit": ("submit", "2025-03-18T13:07:55.218Z"),
    "unexpected_types": ("approved", "2025-01-01T00:00:00.000Z"),
    "updated_new": ("approved", "2025-05-07T00:30:12.500Z"),
    "updated_old": ("rejected", "2025-02-12T10:15:00.000Z"),
}
# Canonical fields both the webhook and the API item carry: they must agree.
SHARED = (
    "submission_id", "status", "email", "user_id", "full_name", "first_name", "last_name",
    "gender", "nationality", "date_of_birth", "duplicated_information", "ip_address",
)  # fmt: skip
SHARED_REVIEW = ("reviewer", "comment", "comment_code", "updated_at", "kyc_result_at")


def fake_item(name: str, name_field: NameField = "full_name") -> JSONObject:
    """Return the fake API's item for the state the webhook fixture `name` leaves behind."""
    payload = load_webhook_fixture(name)
    submission = submission_from_webhook(payload, default_created_at=CREATED, name_field=name_field)
    return submission.to_item()


def test_the_table_covers_every_fixture_the_fake_can_hold() -> None:
    """A new fixture with API state must be added to `EXPECTED`."""
    held = set()
    for path in FIXTURES_DIR.glob("*.json"):
        try:
            fake_item(path.stem)
        except ValueError:
            continue
        held.add(path.stem)
    assert set(EXPECTED) == held


@pytest.mark.parametrize("name_field", ["full_name", "name"])
@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED.items()))
def test_fixture_items_map_to_their_webhook(
    name: str, expected: tuple[str | None, str | None], name_field: NameField
) -> None:
    """Each item gives its trigger and status time, and agrees with the webhook's fields."""
    webhook = load_webhook_fixture(name)
    mapped = map_item(fake_item(name, name_field), project="korea")
    if expected[0] is None:
        assert mapped is None
        return
    assert mapped is not None
    assert expected == (mapped.trigger, mapped.status_time_text)
    ours, theirs = normalize(mapped.payload), normalize(webhook)
    assert f"kyc.{mapped.trigger}" == ours.event_type
    assert [] == [str(w) for w in ours.warnings]
    if theirs.trigger == mapped.trigger and theirs.occurred_at is not None:
        assert theirs.occurred_at == mapped.status_time_text
    shared = [key for key in SHARED if key in theirs.data]
    assert {k: theirs.data[k] for k in shared} == {k: ours.data.get(k) for k in shared}
    review, our_review = theirs.data.get("review"), ours.data.get("review")
    if isinstance(review, dict):
        assert isinstance(our_review, dict)
        keys = [key for key in SHARED_REVIEW if key in review]
        assert {k: review[k] for k in keys} == {k: our_review.get(k) for k in keys}
    if isinstance(webhook.get("cf"), dict):
        assert theirs.data["custom_fields"] == ours.data["custom_fields"]


@pytest.mark.parametrize("name", [n for n, (trigger, _) in EXPECTED.items() if trigger])
def test_mapped_payloads_build_valid_events(name: str) -> None:
    """The payload builds an event of the trigger's type that passes its JSON Schema."""
    mapped = map_item(fake_item(name), project="korea")
    assert mapped is not None
    event = EventFactory(load_registry()).build(
        mapped.payload, project="korea", received_at=CREATED, encrypted=False
    )
    assert (f"kyc.{mapped.trigger}", mapped.submission_id) == (event.event_type, event.subject)


T1 = "2025-03-01-10-00-00-001"
T2 = "2025-03-02-11-30-00-002"
T3 = "2025-03-03-12-45-00-003"
T4 = "2025-03-04-13-59-59-999"


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        pytest.param(
            {"created_at": T1, "pending_at": T2, "kyc_result_at": T3, "updated_at": T4},
            "2025-03-04T13:59:59.999Z",
            id="updated_at-first",
        ),
        pytest.param(
            {"created_at": T1, "pending_at": T2, "kyc_result_at": T3},
            "2025-03-03T12:45:00.003Z",
            id="then-kyc_result_at",
        ),
        pytest.param(
            {"created_at": T1, "pending_at": T2}, "2025-03-02T11:30:00.002Z", id="pending"
        ),
        pytest.param({"created_at": T1}, "2025-03-01T10:00:00.001Z", id="created_at-only"),
        pytest.param(
            {"created_at": T1, "updated_at": "yesterday"},
            "2025-03-01T10:00:00.001Z",
            id="unparseable-skipped",
        ),
        pytest.param(
            {"created_at": T1, "memo": {"text": "call back", "updated_at": T4}},
            "2025-03-01T10:00:00.001Z",
            id="memo-is-not-a-status-time",
        ),
        pytest.param(
            {"created_at": "2025-03-01T19:00:00.001+09:00"},
            "2025-03-01T10:00:00.001Z",
            id="iso-accepted",
        ),
    ],
)
def test_status_time_order(times: JSONObject, expected: str) -> None:
    """The status time is the first of updated_at, kyc_result_at, pending_at, created_at."""
    moment = status_time(times)
    assert moment is not None
    assert expected == format_utc(moment)


def test_item_variants_map_without_leaking_extra_fields() -> None:
    """`data.name`, memo, project_options, image and projection: name kept, the rest dropped."""
    submission = Submission(
        "s-variant",
        CREATED,
        result="rejected",
        updated_at=datetime(2025, 1, 2, tzinfo=UTC),
        reviewer="agent",
        full_name="Ji Sung Park",
        name_field="name",
        data={"cf1": "crm-1", "idcard_issuingCountry": "KOR", "address_city": "Seoul"},
        comment=("Expired document", "Blurry image"),
        comment_code=("R102", "R201"),
        image={"idImage": "https://images.example/1"},
        projection={"projectionId": "p1"},
        memo=Memo("called the applicant", datetime(2025, 2, 1, tzinfo=UTC)),
        project_options={"option_aml": True},
        extra={"aml": {"currentstatus": "Not Screened"}},
    )
    mapped = map_item(submission.to_item(), project="korea")
    assert mapped is not None
    assert {
        "webhook_trigger": "rejected",
        "submission_id": "s-variant",
        "kyc_result": {
            "status": "rejected",
            "updated_at": "2025-01-02T00:00:00.000Z",
            "created_at": "2025-01-01T00:00:00.000Z",
            "reviewer": "agent",
            "comment": "Expired document, Blurry image",
            "commentCode": "R102, R201",
        },
        "cf": {"cf1": "crm-1"},
        "full_name": "Ji Sung Park",
        "issuingCountry": "KOR",
    } == mapped.payload


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        pytest.param(["not", "an", "object"], "not_object", id="not-object"),
        pytest.param(
            {"kyc": {"result": "approved"}, "created_at": T1}, "no_submission_id", id="id"
        ),
        pytest.param({"submission_id": "s", "created_at": T1}, "unknown_result", id="no-kyc"),
        pytest.param(
            {"submission_id": "s", "kyc": {"result": "on_hold"}, "created_at": T1},
            "unknown_result",
            id="new-result",
        ),
        pytest.param({"submission_id": "s", "kyc": {"result": "approved"}}, "no_status_time"),
    ],
)
def test_unmappable_items_say_why(item: JSONValue, reason: str) -> None:
    """Items that cannot become an event raise with a reason and no value."""
    with pytest.raises(UnmappableItemError) as caught:
        map_item(item, project="korea")
    assert (reason, f"ARGOS API item cannot be mapped: {reason}") == (
        caught.value.reason,
        caught.value.message,
    )


def test_every_known_result_has_a_decision() -> None:
    """approved/rejected/pending make events, incomplete makes none."""
    expected = {"approved": "approved", "rejected": "rejected", "pending": "submit"}
    assert expected | {"incomplete": None} == dict(TRIGGER_FOR_RESULT)


def test_event_id_formula() -> None:
    """The id is uuid8(sha256("reconcile\\n" + JSON [project, id, status, RFC 3339 time]))."""
    moment = datetime(2025, 3, 4, 13, 59, 59, 999000, tzinfo=UTC)
    key = json.dumps(
        ["korea", "s-1", "approved", "2025-03-04T13:59:59.999Z"], separators=(",", ":")
    )
    digest = bytearray(hashlib.sha256(b"reconcile\n" + key.encode()).digest()[:16])
    digest[6], digest[8] = (digest[6] & 0x0F) | 0x80, (digest[8] & 0x3F) | 0x80
    text = digest.hex()
    expected = f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    assert expected == reconciled_event_id("korea", "s-1", "approved", moment)
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", expected
    )


def test_event_id_is_stable_per_result_and_differs_from_webhook_ids() -> None:
    """The same result found twice is one id; another result, project or time is another."""
    item = fake_item("approved_new_id_document")
    first, again = map_item(item, project="korea"), map_item(dict(item), project="korea")
    other_project = map_item(item, project="japan")
    later = map_item({**item, "updated_at": "2025-04-03-00-00-00-000"}, project="korea")
    rejected = map_item({**item, "kyc": {"result": "rejected"}}, project="korea")
    assert first is not None
    assert again is not None
    ids = {m.event_id for m in (first, other_project, later, rejected) if m is not None}
    assert (first.event_id, 4) == (again.event_id, len(ids))
    assert (first, 1) == (again, len({first, again}))  # values: equal and hashable
    webhook = load_webhook_fixture("approved_new_id_document")
    assert first.event_id not in {
        derive_event_id("korea", webhook),
        derive_event_id("korea", first.payload),
    }
