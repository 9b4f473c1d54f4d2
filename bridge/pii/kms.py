"""
`AwsKmsKek`: the key-encryption key never leaves AWS KMS (install the `kms` extra).

A wrapped DEK is still a JWE compact serialization:

    header        {"alg":"aws-kms","enc":"A256GCM","kid":<KMS key ARN>}
    encrypted key KMS Encrypt(CEK) ciphertext blob, CEK = 32 random bytes, with
                  EncryptionContext {"kyc_subject": <subject>, "kyc_dek_kid": <DEK kid>}
    IV, ciphertext, tag
                  A256GCM of the DEK JWK under the CEK, AAD = the header segment

`aws-kms` is an unregistered, collision-resistant `alg` (RFC 7516 section 4.1.1).
To unwrap (any language): base64url-decode segment 2, call KMS Decrypt with it,
`KeyId` = the header's kid and the same EncryptionContext (subject and kid from the
key record); AES-256-GCM-decrypt segment 4 + tag (segment 5) with the returned
plaintext as key, segment 3 as IV and the ASCII of segment 1 as AAD.

botocore in a worker thread, not aiobotocore: KMS is called once per new subject
(wrap) and once per DEK per process (unwrap, then cached), so a thread hop is noise
next to the round trip, and aiobotocore's exact botocore pin fights boto3 and moto.
The encryption context is visible in CloudTrail: subject ids only, no personal data.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from bridge.pii.compact import encrypt_compact, parse_compact
from bridge.pii.errors import (
    KekConfigError,
    KekUnavailableError,
    KeyUnavailableError,
    PiiError,
    TamperedError,
)
from bridge.pii.keys import KEY_BYTES, DataKey, dek_from_jwk, dek_to_jwk
from bridge.types import JSONObject

if TYPE_CHECKING:
    from types_boto3_kms import KMSClient

__all__ = ["DEFAULT_CACHE_SIZE", "KMS_ALG", "AwsKmsKek", "KmsSettings", "encryption_context"]

KMS_ALG = "aws-kms"
DEFAULT_CACHE_SIZE = 10_000
_GONE = {"NotFoundException", "DisabledException", "KMSInvalidStateException"}
_GONE |= {"AccessDeniedException", "IncorrectKeyException", "InvalidKeyUsageException"}
_GONE |= {"ValidationException", "InvalidArnException"}  # a malformed key id never works


@dataclass(frozen=True, slots=True)
class KmsSettings:
    """Where the KEK lives: key id, ARN or alias; region; an endpoint for an emulator."""

    key_id: str
    region: str
    endpoint_url: str | None = None
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 5.0
    max_attempts: int = 3  # botocore "standard" retries, first try included


def encryption_context(subject: str, kid: str) -> dict[str, str]:
    """Return the KMS EncryptionContext that binds a wrapped DEK to its subject and kid."""
    return {"kyc_subject": subject, "kyc_dek_kid": kid}


def _translate(exc: Exception, *, wrapping: bool, kek_kid: str) -> PiiError:
    if isinstance(exc, NoCredentialsError):
        return KekConfigError("AWS KMS: no credentials")
    if not isinstance(exc, ClientError):
        return KekUnavailableError(f"AWS KMS unreachable ({type(exc).__name__})")
    code = str(exc.response.get("Error", {}).get("Code", "unknown"))
    if code == "InvalidCiphertextException":
        return TamperedError("AWS KMS refused the wrapped key: modified or other subject/kid")
    if code in _GONE:
        if wrapping:
            return KekConfigError(f"AWS KMS key {kek_kid!r} cannot encrypt ({code})")
        return KeyUnavailableError(kek_kid, f"AWS KMS key {kek_kid!r} is not usable ({code})")
    return KekUnavailableError(f"AWS KMS error {code}")


class AwsKmsKek:
    """Wrap and unwrap DEKs with an AWS KMS symmetric key; unwrapped DEKs are cached."""

    def __init__(self, settings: KmsSettings, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        """Create the KMS client (credentials from the usual AWS chain); no call is made yet."""
        config = Config(
            connect_timeout=settings.connect_timeout_s,
            read_timeout=settings.read_timeout_s,
            retries={"mode": "standard", "max_attempts": settings.max_attempts},
        )
        self._client: KMSClient = boto3.session.Session().client(
            "kms", region_name=settings.region, endpoint_url=settings.endpoint_url, config=config
        )
        self._settings = settings
        self._cache: OrderedDict[str, tuple[str, DataKey]] = OrderedDict()
        self._cache_size = cache_size

    @property
    def kid(self) -> str:
        """The configured key id, ARN or alias (headers carry the ARN KMS answers with)."""
        return self._settings.key_id

    def __repr__(self) -> str:
        return f"AwsKmsKek(key_id={self._settings.key_id!r}, region={self._settings.region!r})"

    async def wrap(self, dek: DataKey) -> str:
        """
        Return `dek` wrapped under a fresh CEK that KMS encrypted.

        Raises:
            KekConfigError: the key is missing, disabled or not allowed, or no credentials.
            KekUnavailableError: KMS did not answer or throttled.
        """
        cek = os.urandom(KEY_BYTES)
        try:
            answer = await asyncio.to_thread(
                self._client.encrypt,
                KeyId=self._settings.key_id,
                Plaintext=cek,
                EncryptionContext=encryption_context(dek.subject, dek.kid),
            )
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc, wrapping=True, kek_kid=self.kid) from None
        header: JSONObject = {"alg": KMS_ALG, "enc": "A256GCM", "kid": answer["KeyId"]}
        blob = answer["CiphertextBlob"]
        return encrypt_compact(header, dek_to_jwk(dek), cek, encrypted_key=blob)

    async def unwrap(self, wrapped_key: str, *, subject: str, kid: str) -> DataKey:
        """
        Return the DEK `kid` of `subject`: from the cache, or by one KMS Decrypt.

        Raises:
            KeyUnavailableError: the header's KMS key is missing, disabled or not allowed.
            TamperedError: not an aws-kms wrapped key, or KMS or AES-GCM refuses it.
            KekUnavailableError: KMS did not answer or throttled.
        """
        cached = self._cache.get(kid)
        if cached is not None and cached[0] == wrapped_key and cached[1].subject == subject:
            self._cache.move_to_end(kid)
            return cached[1]
        jwe = parse_compact(wrapped_key)
        kek_kid = jwe.header.get("kid")
        if jwe.header.get("alg") != KMS_ALG or jwe.header.get("enc") != "A256GCM":
            raise TamperedError("wrapped key is not alg aws-kms / enc A256GCM")
        if not isinstance(kek_kid, str) or not jwe.encrypted_key:
            raise TamperedError("aws-kms wrapped key lacks a kid or an encrypted key")
        try:
            answer = await asyncio.to_thread(
                self._client.decrypt,
                CiphertextBlob=jwe.encrypted_key,
                KeyId=kek_kid,
                EncryptionContext=encryption_context(subject, kid),
            )
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc, wrapping=False, kek_kid=kek_kid) from None
        cek = answer["Plaintext"]
        if len(cek) != KEY_BYTES:
            raise TamperedError("aws-kms wrapped key does not hold a 256-bit CEK")
        dek = dek_from_jwk(jwe.decrypt(cek), subject=subject, kid=kid)
        self._cache[kid] = (wrapped_key, dek)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return dek

    def forget(self, kid: str) -> None:
        """Drop the cached DEK `kid`, if any."""
        self._cache.pop(kid, None)
