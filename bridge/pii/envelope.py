"""
The `encrypt` mode's envelope, both ways. Pure.

    clear envelope                          protected envelope
    {"event_id": E, ..., "data": D,   ->    {"event_id": E, ..., "data": <D without
     "raw": R}                               personal fields>, "protected": <JWE>}

The JWE (`bridge.pii.sealed`, alg dir, enc A256GCM, kid = DEK kid,
kyc_event_id = E) holds `{"data": <the personal fields at their paths>,
"raw": R}`. Members other than `data`, `raw` and `protected` pass through
unchanged; revealing sets a `pii` marker to "clear", so the result equals the
clear envelope.
"""

from __future__ import annotations

import orjson

from bridge.pii.errors import TamperedError
from bridge.pii.keys import DataKey
from bridge.pii.paths import PiiTree, merge, split
from bridge.pii.sealed import KeyLookup, open_sealed, seal
from bridge.types import JSONObject

__all__ = ["PII_MEMBER", "PROTECTED_MEMBER", "protect_envelope", "reveal_envelope"]

PROTECTED_MEMBER = "protected"
PII_MEMBER = "pii"


def protect_envelope(envelope: JSONObject, tree: PiiTree, dek: DataKey) -> JSONObject:
    """
    Return `envelope` with its personal `data` fields and `raw` sealed under `dek`.

    Raises:
        TamperedError: the envelope has no string `event_id` or no object `data`.
    """
    event_id, data = envelope.get("event_id"), envelope.get("data")
    if not isinstance(event_id, str) or not isinstance(data, dict):
        raise TamperedError("envelope lacks a string event_id or an object data")
    clear, personal = split(data, tree)
    inner: JSONObject = {"data": personal}
    if "raw" in envelope:
        inner["raw"] = envelope["raw"]
    protected = {k: v for k, v in envelope.items() if k != "raw"}
    protected["data"] = clear
    protected[PROTECTED_MEMBER] = seal(orjson.dumps(inner), dek, event_id)
    return protected


def reveal_envelope(envelope: JSONObject, lookup: KeyLookup) -> JSONObject:
    """
    Return the clear envelope of a protected one (others are returned as they are).

    Raises:
        KeyUnavailableError: `lookup` has no key for the kid (erased or unknown).
        EventMismatchError: `protected` was copied from another record.
        TamperedError: `protected` or `event_id` is malformed, modified, or the
            plaintext is not `{"data": {...}, "raw": ...}`.
    """
    protected = envelope.get(PROTECTED_MEMBER)
    if protected is None:
        return envelope
    event_id = envelope.get("event_id")
    if not isinstance(protected, str) or not isinstance(event_id, str):
        raise TamperedError("protected event lacks a string protected or event_id")
    try:
        inner = orjson.loads(open_sealed(protected, lookup, event_id))
    except orjson.JSONDecodeError:
        raise TamperedError("protected plaintext is not JSON") from None
    personal = inner.get("data") if isinstance(inner, dict) else None
    clear = envelope.get("data", {})
    if not isinstance(personal, dict) or not isinstance(clear, dict):
        raise TamperedError('protected plaintext is not {"data": {...}, "raw": ...}')
    event = {k: v for k, v in envelope.items() if k != PROTECTED_MEMBER}
    if PII_MEMBER in envelope:
        event[PII_MEMBER] = "clear"  # what the clear mode publishes
    event["data"] = merge(clear, personal)
    if "raw" in inner:
        event["raw"] = inner["raw"]
    return event
