"""Hypothesis strategies: arbitrary JSON objects, biased towards ARGOS keys and values."""

from __future__ import annotations

from hypothesis import strategies as st

from bridge.normalize import TRIGGERS
from bridge.normalize import fields as tables
from bridge.types import JSONObject, JSONValue

KNOWN_KEYS = sorted(
    {"data", "webhook_trigger"}
    | {
        key
        for table in (
            tables.SUBMISSION,
            tables.KYC_RESULT,
            tables.UPDATED_DATA,
            tables.ACTION,
            tables.AML_RESULT,
            tables.RECORD,
            tables.ADDITIONAL_ITEM,
            tables.REFERENCE,
            tables.CUSTOM_FIELDS,
        )
        for key in table
    }
)

_TIMESTAMPS = st.sampled_from(
    [
        "2024-06-21T03:24:57.565Z",
        "2024-06-21-03-24-57-565",
        "2024-06-21T12:24:57+09:00",
        "1991-07-23",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "N/A",
    ]
)
_SCALARS: st.SearchStrategy[JSONValue] = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | _TIMESTAMPS
)
_KEYS = st.sampled_from(KNOWN_KEYS) | st.text(max_size=10)

json_values: st.SearchStrategy[JSONValue] = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=5),
    max_leaves=25,
)
json_objects: st.SearchStrategy[JSONObject] = st.dictionaries(_KEYS, json_values, max_size=12)
triggers: st.SearchStrategy[JSONValue] = st.sampled_from(sorted(TRIGGERS)) | json_values


@st.composite
def payloads(draw: st.DrawFn) -> JSONObject:
    """An arbitrary JSON object, with a documented, an odd or no webhook_trigger."""
    payload = draw(json_objects)
    if draw(st.booleans()):
        payload["webhook_trigger"] = draw(triggers)
    return payload
