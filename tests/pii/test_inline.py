"""seal_inline / open_inline: a dead-letter body sealed under its own one-off DEK."""

from __future__ import annotations

import orjson
import pytest

from bridge.pii.compact import b64url_decode
from bridge.pii.errors import EventMismatchError, TamperedError
from bridge.pii.inline import open_inline, seal_inline
from tests.pii.conftest import KekGenerations

EVENT_ID = "bb4deb73-235a-822d-bc67-be6f0f7c08a1"
BODY = b'{"webhook_trigger":"approved","fullName":"CANARY NAME","email":"canary@example.com"}'


async def test_round_trip_is_json_and_hides_the_body(keks: KekGenerations) -> None:
    """The sealed object survives JSON, opens back to the body, and holds no plaintext."""
    sealed = await seal_inline(BODY, keks.first, event_id=EVENT_ID)
    text = orjson.dumps(sealed)
    assert b"CANARY" not in text
    assert {"subject", "kid", "kek_kid", "wrapped_key", "protected"} == set(sealed)
    assert (EVENT_ID, keks.first_kid) == (sealed["subject"], sealed["kek_kid"])
    assert BODY == await open_inline(orjson.loads(text), keks.first, event_id=EVENT_ID)


async def test_every_body_gets_its_own_data_key(keks: KekGenerations) -> None:
    """Two seals of one body use two DEKs."""
    first = await seal_inline(BODY, keks.first, event_id=EVENT_ID)
    second = await seal_inline(BODY, keks.first, event_id=EVENT_ID)
    assert first["kid"] != second["kid"]


async def test_header_binds_the_event_id(keks: KekGenerations) -> None:
    """The body's JWE names the event; opening it for another event is refused."""
    sealed = await seal_inline(BODY, keks.first, event_id=EVENT_ID)
    header = orjson.loads(b64url_decode(sealed["protected"].split(".", maxsplit=1)[0]))
    assert EVENT_ID == header["kyc_event_id"]
    with pytest.raises(EventMismatchError):
        await open_inline(sealed, keks.first, event_id="other-event")


async def test_incomplete_object_is_refused(keks: KekGenerations) -> None:
    """An object without its members raises TamperedError."""
    sealed = orjson.loads(orjson.dumps(await seal_inline(BODY, keks.first, event_id=EVENT_ID)))
    del sealed["wrapped_key"]
    with pytest.raises(TamperedError):
        await open_inline(sealed, keks.first, event_id=EVENT_ID)
