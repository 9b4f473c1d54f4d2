"""The metadata backoff that keeps aiokafka from spinning while the cluster is away."""

from __future__ import annotations

import asyncio

import pytest

from bridge.publish.backoff import MetadataBackoff, throttle_metadata


class _Client:
    """An aiokafka-like client: a refresh settles on the next loop turn, like a refused connect."""

    def __init__(self, *, works: bool) -> None:
        self.works = works
        self.refreshes = 0
        self.failure: Exception | None = None

    def force_metadata_update(self) -> asyncio.Future[bool]:
        self.refreshes += 1
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        if self.failure is not None:
            loop.call_soon(future.set_exception, self.failure)
        else:
            loop.call_soon(future.set_result, self.works)
        return future


async def _spin(backoff: MetadataBackoff, seconds: float) -> list[bool]:
    """aiokafka's sender loop: ask for a refresh, wait for it, ask again."""
    results: list[bool] = []

    async def loop() -> None:
        while True:
            results.append(await backoff())

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(loop(), seconds)
    return results


async def test_failed_refreshes_are_spaced_out_doubling_up_to_the_cap() -> None:
    """A loop asking again at once gets 50, 100, 200, ... ms waits between real refreshes."""
    client = _Client(works=False)
    backoff = MetadataBackoff(client, first_s=0.05, max_s=0.2)
    results = await _spin(backoff, 1.0)
    # waits 0.05 + 0.1 + 0.2 + 0.2 + 0.2 + 0.2 = 0.95 s: 7 refreshes in the second
    assert 6 <= client.refreshes <= 8
    assert not any(results)


async def test_a_working_cluster_is_asked_every_time() -> None:
    """Refreshes that succeed are never delayed."""
    client = _Client(works=True)
    backoff = MetadataBackoff(client)
    assert [True] * 50 == [await backoff() for _ in range(50)]
    assert 50 == client.refreshes


async def test_a_success_ends_the_backoff() -> None:
    """Once the cluster answers again, the next refresh is not delayed."""
    client = _Client(works=False)
    backoff = MetadataBackoff(client, first_s=0.05, max_s=1.0)
    await _spin(backoff, 0.5)
    client.works = True
    assert await backoff()  # waits out the current backoff, then measures
    before = client.refreshes
    assert await backoff()
    assert before + 1 == client.refreshes


async def test_callers_waiting_out_the_backoff_share_one_measured_result() -> None:
    """Everyone who asked during the wait gets the result of the one refresh after it."""
    client = _Client(works=False)
    backoff = MetadataBackoff(client, first_s=0.05)
    assert not await backoff()
    client.works = True
    results = await asyncio.gather(*(backoff() for _ in range(10)))
    assert [True] * 10 == results
    assert 2 == client.refreshes


async def test_a_caller_giving_up_does_not_cancel_the_others() -> None:
    """A caller that times out (the Kafka probe does) leaves the shared refresh alone."""
    client = _Client(works=False)
    backoff = MetadataBackoff(client, first_s=0.1)
    assert not await backoff()
    impatient = asyncio.ensure_future(backoff())
    patient = asyncio.ensure_future(backoff())
    await asyncio.sleep(0.01)
    impatient.cancel()
    assert not await patient
    assert impatient.cancelled()


async def test_a_refresh_that_raises_counts_as_failed_and_the_error_reaches_the_waiters() -> None:
    """An exception is handed to whoever waits, and the next refresh is delayed."""
    client = _Client(works=False)
    client.failure = ConnectionRefusedError("refused")
    backoff = MetadataBackoff(client, first_s=0.05)
    with pytest.raises(ConnectionRefusedError):
        await backoff()
    with pytest.raises(ConnectionRefusedError):
        await backoff()  # the delayed one
    assert 2 == client.refreshes


async def test_throttle_metadata_replaces_the_method_for_every_caller() -> None:
    """After `throttle_metadata`, calls through the client itself go through the backoff."""
    client = _Client(works=False)
    backoff = throttle_metadata(client)
    assert backoff is client.force_metadata_update
    await _spin(backoff, 0.3)
    assert client.refreshes <= 4
