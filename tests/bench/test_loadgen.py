"""bench/loadgen.py and bench/engine.py: distinct payload variants, answer bookkeeping."""

from __future__ import annotations

import itertools

import orjson
import pytest

from bench.engine import Recorder
from bench.loadgen import variant
from bridge.commands.simulate import webhooks
from bridge.crypto import decrypt, encrypt
from bridge.types import JSONObject

KEY = "bench-test-api-key"


def _first(trigger: str) -> JSONObject:
    stream = webhooks(3)
    return next(w.payload for w in itertools.islice(stream, 200) if w.trigger == trigger)


@pytest.mark.parametrize(
    ("trigger", "path"),
    [
        ("created", ("submission_id",)),
        ("faceAuth", ("data", "submission_id")),
        ("token_expired", ("token_id",)),
    ],
)
def test_variant_rewrites_only_the_id(trigger: str, path: tuple[str, ...]) -> None:
    """A variant differs from its original in the submission (or token) id only."""
    original = _first(trigger)
    changed = orjson.loads(variant(orjson.dumps(original), 1, None))
    holder, before = (changed["data"], original["data"]) if len(path) > 1 else (changed, original)
    assert isinstance(holder, dict)
    assert isinstance(before, dict)
    assert before[path[-1]] != holder[path[-1]]
    holder[path[-1]] = before[path[-1]]
    assert original == changed


def test_variants_are_deterministic_per_pass() -> None:
    """The same pass gives the same bytes; another pass gives other bytes."""
    body = orjson.dumps(_first("created"))
    assert variant(body, 1, None) == variant(body, 1, None)
    assert variant(body, 1, None) != variant(body, 2, None)


def test_variant_of_an_encrypted_body_is_encrypted_again() -> None:
    """An ARGOS-encrypted body stays encrypted under the key, with the new id inside."""
    original = _first("created")
    sealed = orjson.dumps({"data": encrypt(orjson.dumps(original), KEY)})
    changed = orjson.loads(decrypt(orjson.loads(variant(sealed, 4, KEY))["data"], [KEY]))
    assert original["submission_id"] != changed["submission_id"]
    assert original == changed | {"submission_id": original["submission_id"]}


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        (b'{"webhook_trigger":"x"}', None, "no submission"),
        (b'{"data":"AAAA"}', None, "needs --api-key"),
    ],
)
def test_variant_refuses_what_it_cannot_vary(body: bytes, key: str | None, message: str) -> None:
    """A body without an id, or encrypted without a key, is refused."""
    with pytest.raises(ValueError, match=message):
        variant(body, 1, key)


def test_recorder_collects_ids_and_notices_a_full_spool() -> None:
    """2xx answers give their event ids; a 503 spool_full answer marks the spool full."""
    recorder = Recorder()
    recorder.answer(202, b'{"event_id":"e-1","stored":"spool"}', 0.0)
    recorder.answer(503, b'{"error":{"code":"overloaded","message":"busy"}}', 0.0)
    assert ["e-1"] == recorder.ids
    assert not recorder.spool_full
    recorder.answer(503, b'{"error":{"code":"spool_full","message":"full"}}', 0.0)
    assert recorder.spool_full
    assert [202, 503, 503] == list(recorder.samples.statuses)
