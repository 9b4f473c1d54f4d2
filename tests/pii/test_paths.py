"""PII paths from the `x-kyc-pii` schema marking, and split / merge of `data`."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.errors import ConfigError
from bridge.pii.paths import PII_MARK, PiiTree, merge, pii_tree, split
from bridge.types import JSONObject, JSONValue
from tests.pii.corpus import DOCUMENTS, EXAMPLES, EXPECTED_FIELDS_TREE, unmarked_schemas


@pytest.mark.parametrize("schema", ["kyc.approved.v1", "kyc.delete.v1", "kyc.unknown.v1"])
def test_tree_follows_refs_between_documents(schema: str) -> None:
    """Events that $ref argos.fields get its marked properties, nested and array ones too."""
    assert EXPECTED_FIELDS_TREE == pii_tree(DOCUMENTS, f"urn:kyc-bridge:schema:{schema}")


def test_unmarked_schemas_have_an_empty_tree() -> None:
    """Without any marking nothing is personal; the dead letter's data has no marking."""
    assert {} == pii_tree(unmarked_schemas(), "urn:kyc-bridge:schema:kyc.approved.v1")
    assert {} == pii_tree(DOCUMENTS, "urn:kyc-bridge:schema:kyc.dead_letter.v1")


def test_self_referencing_schema_terminates() -> None:
    """A recursive $ref (a tree of nodes) terminates; the recursive member is wholly personal."""
    node: JSONObject = {
        "$id": "urn:t:node",
        "type": "object",
        "properties": {"name": {PII_MARK: True}, "child": {"$ref": "#"}},
    }
    event: JSONObject = {"$id": "urn:t:event", "properties": {"data": {"$ref": "urn:t:node"}}}
    expected = {"name": True, "child": True}
    assert expected == pii_tree([event, node], "urn:t:event")


@pytest.mark.parametrize(
    ("documents", "reason"),
    [
        pytest.param(
            [{"$id": "urn:t:e", "properties": {"data": {"$ref": "urn:t:missing"}}}],
            "unknown schema document",
            id="unknown-document",
        ),
        pytest.param(
            [{"$id": "urn:t:e", "properties": {"data": {"$ref": "#/$defs/nope"}}}],
            "does not point at a schema object",
            id="dangling-pointer",
        ),
        pytest.param(
            [{"$id": "urn:t:e", "properties": {"data": {PII_MARK: True}}}],
            "marks data as a whole",
            id="data-marked",
        ),
    ],
)
def test_bad_schemas_raise_config_error(documents: list[JSONObject], reason: str) -> None:
    """Unresolvable references and a wholesale marking of data are ConfigErrors."""
    with pytest.raises(ConfigError) as info:
        pii_tree(documents, "urn:t:e")
    assert reason in info.value.message


def test_split_moves_marked_values_and_keeps_paths() -> None:
    """Personal values move to `personal` at their paths; parents stay in `clear`."""
    data: JSONObject = {
        "submission_id": "s1",
        "email": "canary@example.com",
        "review": {"reviewer": "agent", "comment": "CANARY"},
        "reference": None,
        "additional_list": [{"answer": "Income", "input_value": "CANARY"}],
    }
    clear, personal = split(data, EXPECTED_FIELDS_TREE)
    assert {"submission_id": "s1", "review": {"reviewer": "agent"}} == clear
    expected_personal = {
        "email": "canary@example.com",
        "review": {"comment": "CANARY"},
        "reference": None,
        "additional_list": [{"answer": "Income", "input_value": "CANARY"}],
    }
    assert expected_personal == personal
    assert data == merge(clear, personal)


@pytest.mark.parametrize(
    ("schema_id", "envelope"),
    EXAMPLES,
    ids=[f"{e['schema']}:{e['event_id']}" for _, e in EXAMPLES],
)
def test_every_example_splits_and_merges_back(schema_id: str, envelope: JSONObject) -> None:
    """merge(split(data)) == data for every example, and no marked leaf is left in clear."""
    data = envelope["data"]
    assert isinstance(data, dict)
    tree = pii_tree(DOCUMENTS, schema_id)
    clear, personal = split(data, tree)
    assert data == merge(clear, personal)
    assert [] == _marked_leaves_left(clear, tree)


def _marked_leaves_left(clear: JSONObject, tree: PiiTree, prefix: str = "") -> list[str]:
    left = []
    for key, node in tree.items():
        if key in clear and node is True:
            left.append(prefix + key)
        elif key in clear and isinstance(clear[key], dict) and not isinstance(node, bool):
            inner = clear[key]
            assert isinstance(inner, dict)
            left += _marked_leaves_left(inner, node, f"{prefix}{key}.")
    return left


KEYS = st.sampled_from(["a", "b", "c", "email", "review"])
JSON_VALUES: st.SearchStrategy[JSONValue] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)
WHOLE: st.SearchStrategy[Literal[True]] = st.just(True)
TREES: st.SearchStrategy[PiiTree] = st.recursive(
    st.dictionaries(KEYS, WHOLE, max_size=3),
    lambda children: st.dictionaries(KEYS, WHOLE | children, max_size=4),
    max_leaves=12,
)


@given(data=st.dictionaries(KEYS, JSON_VALUES, max_size=5), tree=TREES)
def test_merge_inverts_split_for_any_data_and_tree(data: JSONObject, tree: PiiTree) -> None:
    """merge(*split(x, t)) == x for arbitrary JSON objects and PII trees."""
    assert data == merge(*split(data, tree))
