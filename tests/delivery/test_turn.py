"""One webhook of a Kafka key at a time (Ingest's per-key turn)."""

from __future__ import annotations

import asyncio

import pytest

from bridge.delivery.ingest import _Turn


async def test_the_same_key_waits_its_turn_and_other_keys_do_not() -> None:
    """Holders of one key run one after the other; another key is not held up."""
    table: dict[str, tuple[asyncio.Lock, int]] = {}
    order: list[str] = []
    release = asyncio.Event()

    async def hold(key: str, name: str) -> None:
        async with _Turn(table, key):
            order.append(f"{name}+")
            if name == "a1":
                await release.wait()
            order.append(f"{name}-")

    first = asyncio.create_task(hold("a", "a1"))
    await asyncio.sleep(0)
    second = asyncio.create_task(hold("a", "a2"))
    other = asyncio.create_task(hold("b", "b1"))
    await other
    assert ["a1+", "b1+", "b1-"] == order  # a2 still waits for a1
    release.set()
    await asyncio.gather(first, second)
    assert ["a1+", "b1+", "b1-", "a1-", "a2+", "a2-"] == order
    assert {} == table  # nothing kept once every turn is over


async def test_a_waiter_cancelled_before_its_turn_leaves_no_entry() -> None:
    """Cancelling a webhook that waits for its key does not leak the key's lock."""
    table: dict[str, tuple[asyncio.Lock, int]] = {}
    holder = _Turn(table, "a")
    await holder.__aenter__()

    async def wait_turn() -> None:
        async with _Turn(table, "a"):
            pass

    waiter = asyncio.create_task(wait_turn())
    await asyncio.sleep(0)
    assert 2 == table["a"][1]
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert 1 == table["a"][1]
    await holder.__aexit__(None, None, None)
    assert {} == table
