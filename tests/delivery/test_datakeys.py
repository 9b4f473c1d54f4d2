"""
The data keys of the encrypt mode on the delivery side: a key known to be erased is
never handed out or cached again, even before the keys table says so.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from bridge.config import SpoolSettings
from bridge.delivery.datakeys import DataKeys
from bridge.delivery.spool import KeyRow, Spool
from bridge.pii import DataKey, JwksFileKek, key_record, new_data_key
from tests.pii.conftest import jwk, write_jwks

KEYS = "kyc.pii-keys.v1"


class SlowKek:
    """A JWK Set KEK whose unwrap waits until `release` is set."""

    def __init__(self, path: Path) -> None:
        self._kek = JwksFileKek.from_file(path)
        self.release = asyncio.Event()
        self.unwrapping = asyncio.Event()

    @property
    def kid(self) -> str:
        return self._kek.kid

    async def wrap(self, dek: DataKey) -> str:
        return await self._kek.wrap(dek)

    async def unwrap(self, wrapped_key: str, *, subject: str, kid: str) -> DataKey:
        self.unwrapping.set()
        await self.release.wait()
        return await self._kek.unwrap(wrapped_key, subject=subject, kid=kid)

    def forget(self, kid: str) -> None:
        self._kek.forget(kid)


async def test_a_key_erased_while_a_grant_unwraps_it_is_not_handed_out_or_cached(
    tmp_path: Path,
) -> None:
    """
    Another replica's key of a subject is in the keys table; a webhook's grant is
    unwrapping it when the keys follower reads its tombstone (and has not committed it
    yet): the grant makes a new key instead, and so does the next one.
    """
    kek = SlowKek(write_jwks(tmp_path / "kek.jwks", jwk("kek-1", 7)))
    spool = Spool(SpoolSettings(directory=tmp_path / "spool"))
    await spool.open()
    other = new_data_key("sub-e")
    _, value = key_record(other, await kek.wrap(other), created_at=datetime.now(UTC))
    await spool.follow(keys=[KeyRow(other.kid, "sub-e", value)])
    keys = DataKeys(spool, kek, KEYS)

    pending = asyncio.create_task(keys.grant("sub-e"))
    await kek.unwrapping.wait()
    keys.erased("sub-e", (other.kid,))  # the follower read the tombstone
    kek.release.set()
    first = await pending
    second = await keys.grant("sub-e")

    assert other.kid != first.dek.kid
    assert first.record is not None  # a new key, whose record goes out first
    assert other.kid != second.dek.kid
    assert [False] == [row.erased for row in spool.side.keys("sub-e")]  # not committed yet
    await spool.close()


async def test_a_new_key_erased_before_it_is_adopted_is_not_cached(tmp_path: Path) -> None:
    """A sweep erases this replica's new key while its append is in flight: not adopted."""
    kek = JwksFileKek.from_file(write_jwks(tmp_path / "kek.jwks", jwk("kek-1", 7)))
    spool = Spool(SpoolSettings(directory=tmp_path / "spool"))
    await spool.open()
    keys = DataKeys(spool, kek, KEYS)
    grant = await keys.grant("sub-n")
    keys.erased("sub-n", (grant.dek.kid,))
    keys.adopted(grant, seq=1)
    again = await keys.grant("sub-n")
    assert grant.dek.kid != again.dek.kid
    await spool.close()
