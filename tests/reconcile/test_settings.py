"""`ReconcileSettings` holds the documented defaults and lists every invalid value."""

from __future__ import annotations

from datetime import date

import pytest

from bridge.reconcile.settings import ReconcileSettings, RetryPolicy


def test_defaults_are_the_documented_ones() -> None:
    """API URL, interval 0 (off) and a 2-day lookback are the defaults of issue 12."""
    settings = ReconcileSettings()
    assert ("https://rest-api.argosidentity.com", 0.0, 2, False, []) == (
        settings.api_url,
        settings.interval_s,
        settings.lookback_days,
        settings.enabled,
        settings.problems(),
    )


def test_window_covers_lookback_days_and_today() -> None:
    """A 2-day lookback on March 3 walks March 1 to March 3."""
    assert (date(2025, 3, 1), date(2025, 3, 3)) == ReconcileSettings().window(date(2025, 3, 3))


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param(
            ReconcileSettings(api_url="ftp://x"), ["api_url must be an http(s) URL"], id="scheme"
        ),
        pytest.param(
            ReconcileSettings(api_url="https://u:p@host"),
            ["api_url must not carry credentials"],
            id="credentials",
        ),
        pytest.param(
            ReconcileSettings(interval_s=-1, lookback_days=-1, concurrency=0),
            ["interval_s", "lookback_days", "concurrency"],
            id="several",
        ),
        pytest.param(
            ReconcileSettings(timeout_s=0, page_size=2001, max_body_bytes=1),
            ["timeout_s", "page_size", "max_body_bytes"],
            id="limits",
        ),
        pytest.param(
            ReconcileSettings(retry=RetryPolicy(attempts=0, wait_jitter_s=-1, wait_max_s=0)),
            ["attempts", "wait_max_s", "wait_jitter_s"],
            id="retry",
        ),
    ],
)
def test_problems_name_every_bad_setting(settings: ReconcileSettings, expected: list[str]) -> None:
    """Each invalid value yields one message that names it, in field order."""
    problems = settings.problems()
    assert len(expected) == len(problems)
    assert all(fragment in problem for fragment, problem in zip(expected, problems, strict=True))
