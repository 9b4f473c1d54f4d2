"""
A backoff for aiokafka's metadata refreshes while the cluster is unreachable.

aiokafka (0.14) has none: its producer's sender and its consumers' fetcher ask for
a metadata refresh and wait for it, and when every broker refuses the connection
the refresh fails at once, so they ask again at once. With the broker down that
loop costs more CPU than the webhooks do (py-spy: `create_conn` under
`_md_synchronizer` took 30 % of the bridge's samples during an outage). The Java
client waits `reconnect.backoff.ms`, doubling up to `reconnect.backoff.max.ms`;
`throttle_metadata` gives an aiokafka client the same behaviour.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = ["MetadataBackoff", "throttle_metadata"]

FIRST_BACKOFF_S = 0.05
MAX_BACKOFF_S = 1.0


class MetadataClient(Protocol):
    """The part of `aiokafka.AIOKafkaClient` the backoff wraps."""

    def force_metadata_update(self) -> asyncio.Future[bool]:
        """Refresh the cluster metadata; the future says whether it worked."""
        ...


class MetadataBackoff:
    """
    Stands in for a client's `force_metadata_update`: after a refresh failed, the
    next one waits (50 ms, doubling up to 1 s; back to none after a success).
    Callers asking during the wait share one future, settled by the refresh that
    runs when the wait is over, so nobody sees a result that was not measured.
    """

    def __init__(
        self,
        refresh: MetadataClient,
        *,
        first_s: float = FIRST_BACKOFF_S,
        max_s: float = MAX_BACKOFF_S,
    ) -> None:
        self._refresh = refresh.force_metadata_update
        self._first_s = first_s
        self._max_s = max_s
        self._wait_s = 0.0
        self._retry_at = 0.0
        self._delayed: asyncio.Future[bool] | None = None

    def __call__(self) -> asyncio.Future[bool]:
        loop = asyncio.get_running_loop()
        if self._delayed is None and loop.time() >= self._retry_at:
            return self._start()
        if self._delayed is None:
            self._delayed = loop.create_future()
            loop.call_at(self._retry_at, self._release)
        return asyncio.shield(self._delayed)

    def _start(self) -> asyncio.Future[bool]:
        refresh = self._refresh()
        refresh.add_done_callback(self._settled)
        return refresh

    def _release(self) -> None:
        delayed, self._delayed = self._delayed, None
        if delayed is None or delayed.done():
            return
        self._start().add_done_callback(lambda refresh: _copy(refresh, delayed))

    def _settled(self, refresh: asyncio.Future[bool]) -> None:
        if refresh.cancelled():
            return  # a caller gave up waiting: nothing was learned
        if refresh.exception() is None and refresh.result():
            self._wait_s = 0.0
            self._retry_at = 0.0
            return
        self._wait_s = min(self._max_s, max(self._first_s, 2 * self._wait_s))
        self._retry_at = asyncio.get_running_loop().time() + self._wait_s


def _copy(source: asyncio.Future[bool], target: asyncio.Future[bool]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.set_result(False)
    elif (exc := source.exception()) is not None:
        target.set_exception(exc)
    else:
        target.set_result(source.result())


def throttle_metadata(client: MetadataClient) -> MetadataBackoff:
    """Give `client` (an aiokafka client) a metadata backoff; return it."""
    backoff = MetadataBackoff(client)
    # An instance attribute shadows the method for every caller inside aiokafka.
    setattr(client, "force_metadata_update", backoff)  # noqa: B010
    return backoff
