"""Authentication: tokens (rotation, constant time), allowlists, proxies."""

from __future__ import annotations

import ipaddress

import pytest

from bridge.auth import Authenticator, bearer_token, client_address
from bridge.config import ProjectSettings, Secret
from bridge.errors import AuthenticationError, ForbiddenError

A1, A2, B1 = "a" * 20, "A" * 20, "b" * 20
PROJECTS = (
    ProjectSettings("alpha", tokens=(Secret(A1), Secret(A2))),
    ProjectSettings(
        "beta", tokens=(Secret(B1),), allowed_cidrs=(ipaddress.ip_network("203.0.113.0/24"),)
    ),
)
auth = Authenticator(PROJECTS)


@pytest.mark.parametrize(("token", "project"), [(A1, "alpha"), (A2, "alpha"), (B1, "beta")])
def test_each_token_selects_its_project(token: str, project: str) -> None:
    """Every configured token (old and new during rotation) maps to its project."""
    assert project == auth.authenticate(token, ipaddress.ip_address("203.0.113.9")).name


@pytest.mark.parametrize("token", [None, "", "a" * 19, "x" * 20, A1 + "x"])
def test_unknown_tokens_are_rejected(token: str | None) -> None:
    """Missing, near-miss and unknown tokens all raise AuthenticationError."""
    with pytest.raises(AuthenticationError):
        auth.authenticate(token, None)


def test_allowlist_blocks_other_addresses() -> None:
    """A project with an allowlist refuses addresses outside it (and unknown ones)."""
    with pytest.raises(ForbiddenError):
        auth.authenticate(B1, ipaddress.ip_address("198.51.100.1"))
    with pytest.raises(ForbiddenError):
        auth.authenticate(B1, None)


def test_outside_the_allowlist_looks_like_an_unknown_token_to_the_caller() -> None:
    """A valid token from outside the allowlist is told exactly what an unknown token is told."""
    with pytest.raises(AuthenticationError) as unknown:
        auth.authenticate("x" * 20, ipaddress.ip_address("198.51.100.1"))
    with pytest.raises(AuthenticationError) as outside:
        auth.authenticate(B1, ipaddress.ip_address("198.51.100.1"))
    assert (unknown.value.status, unknown.value.public) == (
        outside.value.status,
        outside.value.public,
    )
    assert ("unauthorized", "forbidden") == (unknown.value.code, outside.value.code)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        (None, None),
    ],
)
def test_bearer_token_parsing(header: str | None, expected: str | None) -> None:
    """Only the Bearer scheme yields a token."""
    assert expected == bearer_token(header)


PROXY = (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(
    ("peer", "xff", "proxies", "expected"),
    [
        ("198.51.100.7", ["203.0.113.9"], (), "198.51.100.7"),  # no trusted proxy: ignore XFF
        ("198.51.100.7", ["203.0.113.9"], PROXY, "198.51.100.7"),  # peer is not a proxy
        ("10.1.2.3", ["203.0.113.9"], PROXY, "203.0.113.9"),
        ("10.1.2.3", ["1.2.3.4, 203.0.113.9, 10.9.9.9"], PROXY, "203.0.113.9"),  # right-most
        ("10.1.2.3", ["garbage"], PROXY, "10.1.2.3"),
        ("10.1.2.3", [], PROXY, "10.1.2.3"),
        # A proxy that appends its own line: the client's forged first line must not win.
        ("10.1.2.3", ["203.0.113.9", "198.51.100.7"], PROXY, "198.51.100.7"),
        ("10.1.2.3", ["203.0.113.9, 198.51.100.7", "10.9.9.9"], PROXY, "198.51.100.7"),
        ("10.1.2.3", ["203.0.113.9", "10.9.9.9"], PROXY, "203.0.113.9"),  # all lines are hops
    ],
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    peer: str, xff: list[str], proxies: tuple[ipaddress.IPv4Network, ...], expected: str
) -> None:
    """Every X-Forwarded-For line counts, in order, behind a trusted proxy; right-most wins."""
    assert ipaddress.ip_address(expected) == client_address(peer, xff, proxies)
