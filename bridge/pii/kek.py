"""
The key-encryption key (KEK) port: wraps new data keys, unwraps published ones.

Adapters: `JwksFileKek` (a JWK Set file, `bridge.pii.jwks`) and `AwsKmsKek` (the
KEK stays in AWS KMS, `bridge.pii.kms`). Both produce a JWE compact serialization
whose header `kid` names the KEK, and whose plaintext is the DEK as a JWK:
`{"kty":"oct","k":<base64url>,"kid":<DEK kid>}`.
"""

from __future__ import annotations

from typing import Protocol

from bridge.pii.keys import DataKey

__all__ = ["KeyEncryptionKey"]


class KeyEncryptionKey(Protocol):
    """Wrap DEKs for the keys topic and unwrap them again."""

    @property
    def kid(self) -> str:
        """The id of the key that wraps new DEKs (key id or ARN for AWS KMS)."""
        ...

    async def wrap(self, dek: DataKey) -> str:
        """
        Return `dek` wrapped: a JWE compact serialization whose header names the KEK.

        Raises:
            KekUnavailableError: the key service did not answer (retry later).
        """
        ...

    async def unwrap(self, wrapped_key: str, *, subject: str, kid: str) -> DataKey:
        """
        Return the DEK `kid` of `subject` that `wrapped_key` carries.

        `subject` and `kid` come from the key record; the wrapped key must agree.

        Raises:
            KeyUnavailableError: no KEK with the header's kid (removed, or never known).
            TamperedError: not a wrapped key of ours, or it does not match subject/kid.
            KekUnavailableError: the key service did not answer (retry later).
        """
        ...

    def forget(self, kid: str) -> None:
        """Drop any cached copy of the DEK `kid` (erasure); unknown kids are ignored."""
        ...
