"""
Reconciliation settings: frozen values whose defaults are the documented ones.

The integrator wires them to `BRIDGE_ARGOS_API_URL` / TOML `api_url` (`api_url`),
`BRIDGE_RECONCILE_INTERVAL_S` (`interval_s`) and `BRIDGE_RECONCILE_LOOKBACK_DAYS`
(`lookback_days`); the rest are tuning knobs with safe defaults. Nothing here reads the
environment. `problems()` lists every invalid value, so a config reader can report them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_API_URL",
    "MAX_PAGE_SIZE",
    "ReconcileSettings",
    "RetryPolicy",
]

DEFAULT_API_URL = "https://rest-api.argosidentity.com"
MAX_PAGE_SIZE = 2000  # the legacy ARGOS guide's documented maximum for `count`


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """
    Backoff for one API request (stamina): exponential with jitter, bounded in tries and time.

    The n-th wait is `min(wait_max_s, wait_initial_s * 2 ** (n - 1) + U(0, wait_jitter_s))`,
    unless the API sent `Retry-After`: then exactly that, and no retry at all when it asks
    for more than `max_retry_after_s` (the day is counted as an error; the next run retries).

        RetryPolicy(attempts=3, wait_initial_s=0.01, wait_jitter_s=0.0)  # tests
    """

    attempts: int = 6
    timeout_s: float = 120.0  # no new attempt once this long has passed since the first
    wait_initial_s: float = 0.5
    wait_max_s: float = 30.0
    wait_jitter_s: float = 1.0
    max_retry_after_s: float = 120.0

    def problems(self) -> list[str]:
        """Return a message for every invalid value (empty when valid)."""
        found = [] if self.attempts >= 1 else ["retry attempts must be at least 1"]
        for name in ("timeout_s", "wait_initial_s", "wait_max_s", "max_retry_after_s"):
            if not getattr(self, name) > 0:
                found.append(f"retry {name} must be positive")
        if not self.wait_jitter_s >= 0:
            found.append("retry wait_jitter_s must not be negative")
        return found


@dataclass(frozen=True, slots=True)
class ReconcileSettings:
    """
    How and how often to reconcile against `GET {api_url}/v3/submission`.

    `interval_s` 0 turns the periodic reconciler off (the CLI backfill still works).
    `lookback_days` N walks the N days before today and today (UTC): the API filters on the
    day a submission was *created*, so N must cover how long a result can take to arrive.
    """

    api_url: str = DEFAULT_API_URL
    interval_s: float = 0.0
    lookback_days: int = 2
    concurrency: int = 2  # requests in flight to the API, across days
    timeout_s: float = 30.0  # one request, connect to last byte
    page_size: int = 50  # `count` (ARGOS's default)
    max_body_bytes: int = 32 * 1024 * 1024
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def enabled(self) -> bool:
        """Return True when the periodic reconciler should run."""
        return self.interval_s > 0

    def window(self, today: date) -> tuple[date, date]:
        """Return the (since, until) days, inclusive, that a run on `today` walks."""
        return today - timedelta(days=self.lookback_days), today

    def problems(self) -> list[str]:
        """Return a message for every invalid value (empty when valid); never the URL's secrets."""
        found: list[str] = []
        parts = urlsplit(self.api_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            found.append("api_url must be an http(s) URL with a host")
        elif parts.username or parts.password or parts.query or parts.fragment:
            found.append("api_url must not carry credentials, a query or a fragment")
        if not self.interval_s >= 0:
            found.append("interval_s must be 0 (off) or positive")
        if self.lookback_days < 0:
            found.append("lookback_days must not be negative")
        if self.concurrency < 1:
            found.append("concurrency must be at least 1")
        if not self.timeout_s > 0:
            found.append("timeout_s must be positive")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            found.append(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if self.max_body_bytes < 1024:
            found.append("max_body_bytes must be at least 1024")
        return found + self.retry.problems()
