"""The ARGOS normalizer, driven by the fixture corpus plus targeted variant tables."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from bridge.normalize import TRIGGERS, normalize
from bridge.types import JSONObject, JSONValue
from tests.normalize.corpus import fixture_names, load_fixture, subset_mismatches
from tests.normalize.strategies import payloads

NAMES = fixture_names()


@pytest.mark.parametrize("name", NAMES)
def test_fixture_event_type_and_subject(name: str) -> None:
    """Each fixture maps to its documented event type, and the subject is its submission_id."""
    fixture = load_fixture(name)
    normalized = normalize(fixture["payload"])
    assert fixture["expect"]["event_type"] == normalized.event_type
    submission_id = normalized.data.get("submission_id")
    assert (submission_id or None) == normalized.subject


@pytest.mark.parametrize("name", NAMES)
def test_fixture_data_fields(name: str) -> None:
    """The canonical fields a fixture lists are produced with exactly those values."""
    expect = load_fixture(name)["expect"]
    normalized = normalize(load_fixture(name)["payload"])
    assert subset_mismatches(expect.get("data", {}), normalized.data) == []
    for field in expect.get("absent", []):
        assert field not in normalized.data, field


@pytest.mark.parametrize("name", NAMES)
def test_fixture_occurred_at_and_warnings(name: str) -> None:
    """occurred_at is the most specific readable event time; warnings are exactly as listed."""
    expect = load_fixture(name)["expect"]
    normalized = normalize(load_fixture(name)["payload"])
    assert expect.get("occurred_at") == normalized.occurred_at
    assert sorted(expect.get("warnings", [])) == sorted(str(w) for w in normalized.warnings)


def test_every_documented_trigger_has_a_fixture() -> None:
    """The corpus covers every trigger of TRIGGERS, plus unknown and missing triggers."""
    covered = {load_fixture(name)["payload"].get("webhook_trigger") for name in NAMES}
    assert set(TRIGGERS) <= covered
    assert "argos_id_auth" in covered
    assert None in covered


@pytest.mark.parametrize(
    ("alias", "value", "canonical", "expected"),
    [
        ("userid", "u-1", ("user_id",), "u-1"),
        ("user_id", "u-1", ("user_id",), "u-1"),
        ("User_id", "u-1", ("user_id",), "u-1"),
        ("Auth_User_id", "u-1", ("user_id",), "u-1"),
        ("tokenId", "t-1", ("token_id",), "t-1"),
        ("token_id", "t-1", ("token_id",), "t-1"),
        ("Token_id", "t-1", ("token_id",), "t-1"),
        ("fullName", "Ann Lee", ("full_name",), "Ann Lee"),
        ("full_name", "Ann Lee", ("full_name",), "Ann Lee"),
        ("ipAddress", "192.0.2.1", ("ip_address",), "192.0.2.1"),
        ("idType", "passport", ("id_type",), "passport"),
        ("issuingCountry", "KOR", ("issuing_country",), "KOR"),
        ("issueDate", "2020-01-31", ("issue_date",), "2020-01-31"),
        ("expireDate", "2030-01-31", ("expire_date",), "2030-01-31"),
        ("identityNumber", "900101-1******", ("identity_number",), "900101-1******"),
        ("documentNumber", "M1234", ("document_number",), "M1234"),
        ("phoneNumber", "+821012345678", ("phone_number",), "+821012345678"),
        ("ssnNumber", "123-45-6789", ("ssn_number",), "123-45-6789"),
        ("retryCode", "expired_id", ("retry_code",), "expired_id"),
        ("kyc_status", "approved", ("status",), "approved"),
        ("Auth_Status", "approved", ("status",), "approved"),
        ("kyc_result", {"status": "approved"}, ("status",), "approved"),
        ("kyc_result", "rejected", ("status",), "rejected"),
        (
            "kyc_result",
            {"update_at": "2025-01-02T03:04:05Z"},
            ("review", "updated_at"),
            "2025-01-02T03:04:05.000Z",
        ),
        (
            "kyc_result",
            {"updated_at": "2025-01-02T03:04:05Z"},
            ("review", "updated_at"),
            "2025-01-02T03:04:05.000Z",
        ),
        ("kyc_result", {"commentCode": "R1"}, ("review", "comment_code"), "R1"),
        ("update_time", "2025-01-02T03:04:05Z", ("updated_at",), "2025-01-02T03:04:05.000Z"),
        ("delete_time", "2025-01-02T03:04:05Z", ("deleted_at",), "2025-01-02T03:04:05.000Z"),
        ("account_email", "a@example.com", ("admin_email",), "a@example.com"),
        ("Authentication_id", "fa-1", ("auth_id",), "fa-1"),
        ("cf", {"cf1": "x"}, ("custom_fields", "cf1"), "x"),
        ("cf2", "x", ("custom_fields", "cf2"), "x"),
        ("Auth_cf3", "x", ("custom_fields", "cf3"), "x"),
        ("aml_result", {"currentstatus": "Red Flag"}, ("aml_result", "current_status"), "Red Flag"),
        (
            "action",
            {"failCode": "blackliskCountries"},
            ("action", "fail_code"),
            "blackliskCountries",
        ),
        ("records", [{"worklistId": "w1"}], ("records",), [{"worklist_id": "w1"}]),
        (
            "additional_list",
            [{"blockType": "text"}],
            ("additional_list",),
            [{"block_type": "text"}],
        ),
        ("addtional_list", [{"answer": "a"}], ("additional_list",), [{"answer": "a"}]),
        ("additional_list", {"answer": "a"}, ("additional_list",), [{"answer": "a"}]),
        ("additional_list", [], ("additional_list",), []),
    ],
)
def test_every_spelling_maps_to_one_canonical_field(
    alias: str, value: JSONValue, canonical: tuple[str, ...], expected: JSONValue
) -> None:
    """Each documented spelling lands on the one canonical snake_case field, no warning."""
    normalized = normalize({"webhook_trigger": "approved", alias: value})
    found: JSONValue = normalized.data
    for part in canonical:
        assert isinstance(found, dict)
        found = found[part]
    assert expected == found
    assert normalized.warnings == ()
    assert "extra" not in normalized.data


def test_updated_data_object_is_read_only_for_updated() -> None:
    """`data` is the updated/faceAuth sub-object; on other triggers it is kept in extra."""
    payload: JSONObject = {"webhook_trigger": "approved", "data": {"kyc_result": "rejected"}}
    assert normalize(payload).data == {"extra": {"data": {"kyc_result": "rejected"}}}
    payload["webhook_trigger"] = "updated"
    assert normalize(payload).data == {"status": "rejected"}


def test_unknown_nested_keys_go_to_extra_by_path() -> None:
    """Unmapped nested keys are kept as given under their original path in data.extra."""
    normalized = normalize(
        {
            "webhook_trigger": "approved",
            "kyc_result": {"status": "approved", "score": 97},
            "x": {"a": 1},
        }
    )
    assert normalized.data["extra"] == {"kyc_result.score": 97, "x": {"a": 1}}
    assert normalized.warnings == ()


def test_additional_list_items_keep_unknown_keys() -> None:
    """Keys ARGOS may add to an Additional-form item stay inside the item, as given."""
    normalized = normalize(
        {
            "webhook_trigger": "approved",
            "additional_list": [{"answer": "a", "required": True}, "odd"],
        }
    )
    assert normalized.data["additional_list"] == [{"answer": "a", "required": True}]
    assert normalized.data["extra"] == {"additional_list[1]": "odd"}
    assert [str(w) for w in normalized.warnings] == [
        'unexpected_type:data.extra["additional_list[1]"]'
    ]


def test_conflicting_aliases_keep_both_values() -> None:
    """Two spellings with different values: the first wins, the other moves to extra, flagged."""
    normalized = normalize(
        {"webhook_trigger": "created", "userid": "u-1", "user_id": "u-2", "User_id": "u-1"}
    )
    assert normalized.data["user_id"] == "u-1"
    assert normalized.data["extra"] == {"user_id": "u-2"}
    assert [str(w) for w in normalized.warnings] == ["conflicting_value:data.extra.user_id"]


def test_flat_and_object_custom_fields_merge() -> None:
    """cf object and flat cf1..cf3 fill one custom_fields object."""
    normalized = normalize(
        {"webhook_trigger": "injection", "cf": {"cf1": "a"}, "cf2": "b", "Auth_cf3": "c"}
    )
    assert normalized.data["custom_fields"] == {"cf1": "a", "cf2": "b", "cf3": "c"}


def test_absent_stays_absent_and_null_stays_null() -> None:
    """Nothing is invented: an empty payload gives empty data; explicit nulls are kept."""
    assert normalize({"webhook_trigger": "submit"}).data == {}
    normalized = normalize(
        {"webhook_trigger": "aml", "aml_result": None, "records": None, "email": None}
    )
    assert normalized.data == {"aml_result": None, "records": None, "email": None}


@pytest.mark.parametrize("trigger", [3, None, ["approved"], {"x": 1}])
def test_non_string_trigger_is_unknown_without_trigger(trigger: JSONValue) -> None:
    """A non-string webhook_trigger gives kyc.unknown, no trigger, a missing_trigger warning."""
    normalized = normalize({"webhook_trigger": trigger, "submission_id": "s-1"})
    assert (normalized.event_type, normalized.trigger) == ("kyc.unknown", None)
    assert [str(w) for w in normalized.warnings] == ["missing_trigger:trigger"]


@pytest.mark.parametrize("trigger", ["Approved", "injection_fail", "argos_id_auth", ""])
def test_unlisted_trigger_is_unknown_and_kept_as_sent(trigger: str) -> None:
    """Trigger matching is exact: anything not documented is kyc.unknown, trigger as sent."""
    normalized = normalize({"webhook_trigger": trigger})
    assert ("kyc.unknown", trigger) == (normalized.event_type, normalized.trigger)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"submission_id": "s-1", "token_id": "t-1"}, "s-1"),
        ({"submission_id": "", "token_id": "t-1"}, "token:t-1"),
        ({"tokenId": "t-2"}, "token:t-2"),
        ({"submission_id": 42}, None),
        ({}, None),
    ],
)
def test_key_hint_prefers_submission_then_token(payload: JSONObject, expected: str | None) -> None:
    """The key hint is submission_id, else token:<token_id>, else None (event id fallback)."""
    assert expected == normalize({"webhook_trigger": "token_expired", **payload}).key_hint


def test_warnings_never_contain_values() -> None:
    """Warnings name a path and a code only, never the offending value."""
    secret = "Sensitive-Value-123"
    normalized = normalize(
        {
            "webhook_trigger": "approved",
            "kyc_result": {"updated_at": secret, "status": [secret]},
            "date_of_birth": secret,
            "email": {"v": secret},
        }
    )
    assert len(normalized.warnings) == 4
    assert all(secret not in str(w) for w in normalized.warnings)


@settings(max_examples=400)
@given(payloads())
def test_normalize_never_raises(payload: JSONObject) -> None:
    """Any JSON object, with or without a trigger, normalizes; types hold; nothing is mutated."""
    before = repr(payload)
    normalized = normalize(payload)
    assert before == repr(payload)
    assert normalized.event_type.startswith("kyc.")
    assert normalized.key_hint is None or normalized.key_hint
    assert all({"path", "code"} == set(w.as_json()) for w in normalized.warnings)


def test_equal_duplicates_merge_but_json_types_are_not_confused() -> None:
    """Same value under two spellings merges silently; 1 vs true is a conflict, kept in extra."""
    same = normalize({"webhook_trigger": "created", "userid": "u-1", "user_id": "u-1"})
    assert same.data == {"user_id": "u-1"}
    item = normalize(
        {"webhook_trigger": "approved", "additional_list": [{"inputValue": 1, "input_value": True}]}
    )
    assert item.data["additional_list"] == [{"input_value": 1}]
    assert item.data["extra"] == {"additional_list[0].input_value": True}


@pytest.mark.parametrize("trigger", ["approved", "rejected"])
def test_a_result_without_its_status_reports_the_triggers_result(trigger: str) -> None:
    """
    ARGOS fields are all optional: an `approved`/`rejected` whose `kyc_result` has no
    `status` still moves the state to that result (it kept the previous status before).
    """
    payload: JSONObject = {
        "webhook_trigger": trigger,
        "submission_id": "s1",
        "kyc_result": {"updated_at": "2025-03-20T11:02:48.950Z", "commentCode": "R102"},
    }
    normalized = normalize(payload)
    assert (trigger, "2025-03-20T11:02:48.950Z") == (normalized.status, normalized.status_time)


def test_a_stated_status_wins_over_the_trigger() -> None:
    """What `kyc_result.status` says is kept, even where the trigger names another result."""
    payload: JSONObject = {
        "webhook_trigger": "approved",
        "submission_id": "s1",
        "kyc_result": {"status": "rejected", "updated_at": "2025-03-20T11:02:48.950Z"},
    }
    assert "rejected" == normalize(payload).status


def test_an_unknown_trigger_takes_the_first_readable_of_the_documented_times() -> None:
    """`expected_expired_at` is one of the times above in docs/events.md: it counts too."""
    payload: JSONObject = {
        "webhook_trigger": "argos_id_auth",
        "submission_id": "s1",
        "expected_expired_at": "2025-03-20T11:02:48.950Z",
    }
    assert "2025-03-20T11:02:48.950Z" == normalize(payload).occurred_at
