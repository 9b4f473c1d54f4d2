"""
Seal one body with its own one-off DEK, carried inline (dead letters that arrived
in plain text). The object is JSON-able and self-contained except for the KEK:

    {"subject": <event id>, "kid": <one-off DEK kid>, "kek_kid": <KEK kid>,
     "wrapped_key": <the DEK wrapped by the KEK, as in a key record>,
     "protected": <seal(body, DEK, event id): JWE alg dir / enc A256GCM>}

The DEK's subject is the event id (an AWS KMS encryption context binds it). No
keys-topic record exists for it, so it is not crypto-shredded with a subject:
only retiring the KEK makes it unreadable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from bridge.pii.compact import parse_compact
from bridge.pii.errors import TamperedError
from bridge.pii.kek import KeyEncryptionKey
from bridge.pii.keys import new_data_key
from bridge.pii.sealed import open_sealed, seal

__all__ = ["InlineSealed", "open_inline", "seal_inline"]


class InlineSealed(TypedDict):
    """A body sealed with a one-off DEK, wrapped inline."""

    subject: str
    kid: str
    kek_kid: str
    wrapped_key: str
    protected: str


async def seal_inline(body: bytes, kek: KeyEncryptionKey, *, event_id: str) -> InlineSealed:
    """
    Seal `body` under a fresh DEK wrapped by `kek`, bound to `event_id`.

    Raises:
        KekConfigError, KekUnavailableError: the KEK could not wrap (see the adapter).
    """
    dek = new_data_key(event_id)
    wrapped_key = await kek.wrap(dek)
    kek_kid = parse_compact(wrapped_key).header.get("kid")
    return InlineSealed(
        subject=event_id,
        kid=dek.kid,
        kek_kid=str(kek_kid),
        wrapped_key=wrapped_key,
        protected=seal(body, dek, event_id),
    )


async def open_inline(
    sealed: Mapping[str, object], kek: KeyEncryptionKey, *, event_id: str
) -> bytes:
    """
    Return the body of an object made by `seal_inline` for `event_id`.

    Raises:
        TamperedError: members missing, another subject, or authentication failed.
        EventMismatchError: the object belongs to another event.
        KeyUnavailableError: `kek` does not know the KEK that wrapped the DEK.
        KekUnavailableError: the key service did not answer (retry later).
    """
    subject, kid = sealed.get("subject"), sealed.get("kid")
    wrapped_key, protected = sealed.get("wrapped_key"), sealed.get("protected")
    if not (
        isinstance(subject, str)
        and isinstance(kid, str)
        and isinstance(wrapped_key, str)
        and isinstance(protected, str)
    ):
        raise TamperedError("inline sealed object lacks subject, kid, wrapped_key or protected")
    dek = await kek.unwrap(wrapped_key, subject=subject, kid=kid)
    return open_sealed(protected, {dek.kid: dek}.get, event_id)
