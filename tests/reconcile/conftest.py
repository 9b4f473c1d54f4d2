"""Shared pieces of the reconciliation tests: a started fake ARGOS API and fast settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bridge.reconcile.settings import ReconcileSettings, RetryPolicy
from tests.support.fake_argos import FakeArgos
from tests.support.fake_argos_items import KycResult, Submission

API_KEY = "canary-argos-api-key-5b0e7c"
DAY0 = datetime(2025, 3, 1, tzinfo=UTC)
# Backoff made tiny by injection (no global stamina state): retried requests follow at once.
FAST_RETRY = RetryPolicy(
    attempts=4, timeout_s=30.0, wait_initial_s=0.01, wait_max_s=0.05, wait_jitter_s=0.0
)


@pytest.fixture(name="argos")
async def _argos() -> AsyncIterator[FakeArgos]:
    """A started fake ARGOS API with no submissions (plain responses, `nextpage_*` cursor)."""
    async with FakeArgos(API_KEY) as argos:
        yield argos


def settings_for(
    argos: FakeArgos,
    *,
    timeout_s: float = 2.0,
    page_size: int = 5,
    concurrency: int = 2,
    max_body_bytes: int = 32 * 1024 * 1024,
    retry: RetryPolicy = FAST_RETRY,
) -> ReconcileSettings:
    """Settings pointing at `argos`: pages of 5, 2 s timeout, tiny backoff, unless changed."""
    return ReconcileSettings(
        api_url=argos.url,
        timeout_s=timeout_s,
        page_size=page_size,
        concurrency=concurrency,
        max_body_bytes=max_body_bytes,
        retry=retry,
    )


def seed(
    argos: FakeArgos,
    count: int,
    *,
    start: datetime = DAY0,
    step: timedelta = timedelta(hours=2),
    result: KycResult = "approved",
) -> list[str]:
    """Store `count` decided submissions created `step` apart from `start`; return their ids."""
    ids = [f"sub-{start:%m%d}-{n:03d}" for n in range(count)]
    argos.put(
        *(
            Submission(sid, start + n * step).with_result(result, at=start + n * step)
            for n, sid in enumerate(ids)
        )
    )
    return ids
