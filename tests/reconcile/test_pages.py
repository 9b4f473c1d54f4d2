"""`parse_page` reads every documented and guessed response shape, and refuses the rest."""

from __future__ import annotations

import orjson
import pytest

from bridge import crypto
from bridge.reconcile.errors import ArgosResponseError
from bridge.reconcile.pages import Cursor, Page, parse_page, safe_keys
from bridge.types import JSONObject

KEY = "pages-test-api-key"
ITEM: JSONObject = {"submission_id": "s-1", "kyc": {"result": "approved"}}
CURSOR = Cursor("s-1", "2025-03-01-10-00-00-000")


def parse(body: JSONObject, count: int = 50, keys: tuple[str, ...] = (KEY,)) -> Page:
    """Parse `body` serialized as the API would send it."""
    return parse_page(orjson.dumps(body), api_keys=keys, count=count)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"nextpage_id": "s-1", "nextpage_date": CURSOR.nextpage_date}, id="nextpage"),
        pytest.param(
            {"nextPageKeyId": "s-1", "nextPageKeyTime": CURSOR.nextpage_date}, id="nextPageKey"
        ),
        pytest.param(
            {"LastEvaluatedKey": {"submission_id": "s-1", "created_at": CURSOR.nextpage_date}},
            id="LastEvaluatedKey",
        ),
        pytest.param(
            {
                "LastEvaluatedKey": {
                    "submission_id": {"S": "s-1"},
                    "created_at": {"S": CURSOR.nextpage_date},
                }
            },
            id="LastEvaluatedKey-typed",
        ),
        pytest.param(
            {"nextpageKey": {"id": "s-1", "created_at": CURSOR.nextpage_date}}, id="nextpageKey"
        ),
    ],
)
def test_every_cursor_style_is_found(extra: JSONObject) -> None:
    """Each cursor style becomes the same `nextpage_id` / `nextpage_date` pair."""
    page = parse({"Items": [ITEM], **extra})
    assert (CURSOR, False) == (page.cursor, page.truncated)
    assert {"nextpage_id": "s-1", "nextpage_date": CURSOR.nextpage_date} == CURSOR.params()


@pytest.mark.parametrize(
    ("body", "count", "truncated"),
    [
        pytest.param({"Items": [ITEM, ITEM]}, 2, True, id="full-no-cursor"),
        pytest.param({"Items": [ITEM]}, 2, False, id="short-no-cursor"),
        pytest.param({"Items": [ITEM, ITEM], "nextpage_id": "s-1"}, 2, True, id="half-cursor"),
        pytest.param({"Items": [ITEM, ITEM], "nextpage_id": ""}, 2, True, id="empty-cursor"),
        pytest.param({"Items": []}, 2, False, id="empty"),
    ],
)
def test_a_full_page_without_a_usable_cursor_is_truncated(
    body: JSONObject, count: int, truncated: bool
) -> None:
    """A page holding `count` items with no complete cursor may hide more items."""
    page = parse(body, count=count)
    assert (None, truncated) == (page.cursor, page.truncated)


def test_a_page_without_items_has_no_cursor() -> None:
    """An empty page ends the walk even if it carries a cursor (DynamoDB trailing page)."""
    page = parse({"Items": [], "nextpage_id": "s-1", "nextpage_date": CURSOR.nextpage_date})
    assert (None, ()) == (page.cursor, page.items)


def test_non_object_items_are_dropped_and_counted() -> None:
    """`Items[]` elements that are not objects are counted, not returned."""
    page = parse({"Items": [ITEM, "x", 3, None]})
    assert ((ITEM,), 3) == (page.items, page.invalid_items)


def test_encrypted_response_is_decrypted_with_any_configured_key() -> None:
    """`{"data": <base64>}` opens with the project's second key too (key rotation)."""
    plain = {"Items": [ITEM], "nextpage_id": "s-1", "nextpage_date": CURSOR.nextpage_date}
    body: JSONObject = {"data": crypto.encrypt(orjson.dumps(plain), KEY)}
    page = parse(body, keys=("another-project-key", KEY))
    assert ((ITEM,), CURSOR, True) == (page.items, page.cursor, page.encrypted)


@pytest.mark.parametrize(
    ("raw", "problem", "keys"),
    [
        pytest.param(b"<html>502</html>", "not_json", (), id="html"),
        pytest.param(b"[1, 2]", "not_object", (), id="array"),
        pytest.param(b'{"Records": [], "Count": 0}', "no_items", ("Count", "Records"), id="shape"),
        pytest.param(
            b'{"errorCode": "x", "errorMessage": "y"}',
            "no_items",
            ("errorCode", "errorMessage"),
            id="error-body",
        ),
        pytest.param(b'{"Items": {"a": 1}}', "no_items", ("Items",), id="items-object"),
        pytest.param(b'{"data": "bm90IGNpcGhlcnRleHQ="}', "undecryptable", (), id="undecryptable"),
    ],
)
def test_unrecognised_bodies_raise_with_key_names_only(
    raw: bytes, problem: str, keys: tuple[str, ...]
) -> None:
    """Bodies that are not a page raise `ArgosResponseError` naming the problem and keys."""
    with pytest.raises(ArgosResponseError) as caught:
        parse_page(raw, api_keys=(KEY,), count=50)
    assert (problem, keys) == (caught.value.problem, caught.value.keys)


def test_safe_keys_leave_out_names_that_are_not_identifiers() -> None:
    """Key names that could be values (emails, phone numbers) never reach a log line."""
    body: JSONObject = {"ok_name": 1, "jane.doe@example.test": 2, "+821012345678": 3, "x" * 80: 4}
    assert ("ok_name",) == safe_keys(body)
