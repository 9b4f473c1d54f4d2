"""
Create topics on a broker and wait until every partition has a leader.

aiokafka is imported only here and only when a topic is created, so the rest of the tool
needs nothing but the standard library.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from kafkactl.errors import KafkaCtlError

__all__ = ["acreate_topic", "create_topic"]

_T = TypeVar("_T")
_TOPIC_ALREADY_EXISTS = 36


async def acreate_topic(
    bootstrap: str,
    name: str,
    partitions: int = 1,
    *,
    configs: dict[str, str] | None = None,
    timeout: float = 30,  # noqa: ASYNC109 - also the admin client's request timeout
) -> None:
    """
    Create `name` (replication factor 1) unless it exists; wait until all partitions have a
    leader.

    Raises KafkaCtlError when aiokafka is missing, the broker refuses, or time runs out.
    """
    try:
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: PLC0415
    except ImportError as exc:
        raise KafkaCtlError("create_topic needs aiokafka (pip install aiokafka)") from exc
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    deadline = time.monotonic() + timeout
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name, partitions, 1, topic_configs=configs or {})]
        )
        for topic_error in response.topic_errors:
            code = topic_error[1]
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise KafkaCtlError(f"CreateTopics {name!r} failed with error code {code}")
        while not await _has_leaders(admin, name, partitions):
            if time.monotonic() >= deadline:
                raise KafkaCtlError(f"topic {name!r} has no leaders after {timeout:g}s")
            await asyncio.sleep(0.05)
    finally:
        await admin.close()


def create_topic(
    bootstrap: str,
    name: str,
    partitions: int = 1,
    *,
    configs: dict[str, str] | None = None,
    timeout: float = 30,
) -> None:
    """Run `acreate_topic` to completion on a private loop (safe inside async code)."""
    _run_in_thread(
        lambda: acreate_topic(bootstrap, name, partitions, configs=configs, timeout=timeout)
    )


async def _has_leaders(admin: Any, name: str, partitions: int) -> bool:
    described = await admin.describe_topics([name])
    if not described or described[0]["error_code"] != 0:
        return False
    parts = described[0]["partitions"]
    return len(parts) >= partitions and all(
        p["error_code"] == 0 and p["leader"] >= 0 for p in parts
    )


def _run_in_thread(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion on a private event loop (works inside a running loop)."""
    results: list[_T] = []
    errors: list[BaseException] = []

    def runner() -> None:
        try:
            results.append(asyncio.run(factory()))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=runner, name="kafkactl-sync", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]
