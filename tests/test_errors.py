"""The error tree: stable codes, statuses and docs for every error."""

from __future__ import annotations

import bridge.errors as errors
from bridge.errors import BridgeError, PermanentError, TransientError


def _all_errors() -> list[type[BridgeError]]:
    return [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, BridgeError) and cls is not BridgeError
    ]


def test_every_error_is_exported_documented_and_has_a_unique_code() -> None:
    """Each error class is in __all__, has a docstring and its own stable snake_case code."""
    classes = _all_errors()
    assert sorted(c.__name__ for c in classes) == sorted(
        n for n in errors.__all__ if n != "BridgeError"
    )
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    for cls in classes:
        assert cls.__doc__
        assert cls.code.replace("_", "").isalpha()
        assert cls.code.islower()


def test_permanent_errors_are_4xx_and_transient_errors_are_503_with_retry_after() -> None:
    """Permanent errors never ask for a retry; transient ones always do."""
    for cls in _all_errors():
        if issubclass(cls, TransientError):
            assert 503 == cls.status
            assert cls.retry_after_s > 0
        elif issubclass(cls, PermanentError):
            assert 400 <= cls.status < 500


def test_messages_default_to_the_docstring() -> None:
    """An error raised without a message still carries a safe, readable one."""
    assert "The durable spool reached its configured cap." == errors.SpoolFullError().message
