"""
Simulated ARGOS webhooks: padded payloads for every trigger, and an endless
stream that opens with one submission going through every trigger (so the
first `len(TRIGGERS)` webhooks cover them all), then follows submission
lifecycles (created -> submit -> approved/rejected -> aml ...), interleaved
across many submissions. Bodies
are compact JSON of 1-3 KB (padded with `additional_list` answers), optionally
encrypted the way ARGOS does (`{"data": "<base64 AES-256-ECB>"}`). Pure and
deterministic per seed.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from bridge.commands.simulate.fake import additional_entry
from bridge.commands.simulate.triggers import BUILDERS, Submission
from bridge.crypto import encrypt
from bridge.types import JSONObject, JSONValue

__all__ = ["MAX_BYTES", "MIN_BYTES", "TRIGGERS", "Webhook", "encode", "make_payload", "webhooks"]

MIN_BYTES = 1024
MAX_BYTES = 3072
TRIGGERS: tuple[str, ...] = tuple(BUILDERS)
"""Every documented ID Check `webhook_trigger`, spelled as ARGOS sends it."""

# Optional steps after the review, with their probability per submission.
_LATER = (("aml", 0.6), ("aml_monitor", 0.25), ("updated", 0.2), ("faceAuth", 0.2))
_RARE = (("token_expired", 0.1), ("delete", 0.05))
# The opening tour: one submission through every trigger, in a plausible order (ARGOS
# may follow an approval with a rejection); triggers not listed here go last.
_TOUR_ORDER = (
    "created", "retry", "submit", "approved", "updated", "aml", "aml_monitor",
    "injection", "injectionFail", "faceAuth", "rejected", "token_expired", "delete",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Webhook:
    """One simulated delivery: the decrypted payload and the bytes ARGOS would POST."""

    trigger: str
    payload: JSONObject
    body: bytes
    encrypted: bool


def _pad(payload: JSONObject, rng: random.Random) -> JSONObject:
    """Append `additional_list` answers until the compact JSON is 1-3 KB."""
    target = rng.randrange(MIN_BYTES, MAX_BYTES + 1)
    entries: list[JSONValue] = []
    size = len(orjson.dumps(payload)) + len(',"additional_list":[]')
    while size < target:
        entry = additional_entry(rng, len(entries))
        size += len(orjson.dumps(entry)) + (1 if entries else 0)
        entries.append(entry)
    if size > MAX_BYTES:
        entries.pop()
    return payload | {"additional_list": entries}


def make_payload(trigger: str, rng: random.Random) -> JSONObject:
    """One padded payload of `trigger` about a fresh submission (KeyError if unknown)."""
    return _pad(BUILDERS[trigger](Submission(rng)), rng)


def encode(payload: JSONObject, encrypt_with: str | None) -> bytes:
    """The POST body: compact JSON, or ARGOS' encrypted envelope under `encrypt_with`."""
    plain = orjson.dumps(payload)
    return plain if encrypt_with is None else orjson.dumps({"data": encrypt(plain, encrypt_with)})


def _lifecycle(rng: random.Random) -> deque[str]:
    steps = deque(["created", *["retry"] * rng.choice((0, 0, 0, 1, 2)), "submit"])
    steps.append("approved" if rng.random() < 0.8 else "rejected")
    injection = ((rng.choice(("injection", "injectionFail")), 0.15),)
    steps.extend(trigger for trigger, p in (*_LATER, *injection, *_RARE) if rng.random() < p)
    return steps


def webhooks(
    seed: int, *, encrypt_with: str | None = None, encrypted_share: float = 1.0, active: int = 32
) -> Iterator[Webhook]:
    """
    An endless, seed-deterministic stream of webhooks: first one submission
    through every trigger (the first `len(TRIGGERS)` webhooks cover them all),
    then `active` interleaved submission lifecycles; `encrypted_share` of them are encrypted when
    `encrypt_with` (an ARGOS API key) is given. Every payload is distinct.
    """
    rng = random.Random(seed)  # noqa: S311  (fake data, not secrets)
    coin = random.Random(f"{seed}:encrypted")  # noqa: S311

    def webhook(trigger: str, submission: Submission) -> Webhook:
        payload = _pad(BUILDERS[trigger](submission), rng)
        key = encrypt_with if encrypt_with and coin.random() < encrypted_share else None
        return Webhook(trigger, payload, encode(payload, key), key is not None)

    tour = Submission(rng)
    ordered = [t for t in _TOUR_ORDER if t in BUILDERS]
    for trigger in [*ordered, *(t for t in BUILDERS if t not in ordered)]:
        yield webhook(trigger, tour)
    running = [(Submission(rng), _lifecycle(rng)) for _ in range(active)]
    while True:
        index = rng.randrange(active)
        submission, steps = running[index]
        trigger = steps.popleft()
        if not steps:
            running[index] = (Submission(rng), _lifecycle(rng))
        yield webhook(trigger, submission)
