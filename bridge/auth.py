"""
Webhook authentication: which project a request belongs to, from its token
(path or `Authorization: Bearer`) and its source address. Pure functions.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Sequence

from bridge.config import ProjectSettings
from bridge.errors import AuthenticationError, ForbiddenError

__all__ = ["Authenticator", "bearer_token", "client_address"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def bearer_token(authorization: str | None) -> str | None:
    """Return the token of an `Authorization: Bearer <token>` header, if any."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted_proxies: Sequence[Network]
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """
    Return the client address.

    `forwarded_for` is every `X-Forwarded-For` line of the request, in order:
    HTTP treats repeated lines as one comma-separated list (RFC 9110, 5.3), and
    a proxy may append its own line instead of extending the first, so reading
    only the first line would let a client's forged line win. The list is
    believed only when the direct peer is a trusted proxy; then the right-most
    entry that is not itself a trusted proxy is the client.
    """
    address = _parse_ip(peer) if peer else None
    if address is None or not forwarded_for or not _in(address, trusted_proxies):
        return address
    for hop in reversed(",".join(forwarded_for).split(",")):
        hop_address = _parse_ip(hop)
        if hop_address is None:
            return address  # garbage in the chain: stop trusting it
        if not _in(hop_address, trusted_proxies):
            return hop_address
        address = hop_address
    return address


def _in(address: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in nets)


def _digest(token: str) -> bytes:
    # aiohttp hands over a header's non-UTF-8 bytes as surrogates: they digest as the
    # bytes sent (and match no configured token) instead of raising
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


class Authenticator:
    """Resolve a presented token to its project, in constant time per token."""

    def __init__(self, projects: Sequence[ProjectSettings]) -> None:
        self._table = tuple(
            (_digest(token.value), project) for project in projects for token in project.tokens
        )
        #: whether any project restricts source addresses (else the address is never needed)
        self.uses_addresses = any(project.allowed_cidrs for project in projects)

    def authenticate(
        self,
        token: str | None,
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
    ) -> ProjectSettings:
        """
        Return the project whose token matches.

        Every configured token is compared (no early exit), on SHA-256 digests
        so that lengths leak nothing.

        Raises:
            AuthenticationError: missing or unknown token.
            ForbiddenError: the project has an allowlist and the address is not in it
                (a subclass of AuthenticationError, answered the same way).
        """
        if not token:
            raise AuthenticationError("missing webhook token")
        presented = _digest(token)
        found: ProjectSettings | None = None
        for digest, project in self._table:
            if hmac.compare_digest(digest, presented) and found is None:
                found = project
        if found is None:
            raise AuthenticationError("unknown webhook token")
        if found.allowed_cidrs and (address is None or not _in(address, found.allowed_cidrs)):
            raise ForbiddenError("source address is not allowed for this project")
        return found
