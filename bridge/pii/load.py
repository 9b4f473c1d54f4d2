"""Build the configured key-encryption key (JWK Set file or AWS KMS), once at startup."""

from __future__ import annotations

from bridge.config import PiiSettings
from bridge.pii.errors import KekConfigError
from bridge.pii.jwks import JwksFileKek
from bridge.pii.kek import KeyEncryptionKey

__all__ = ["load_kek"]


def load_kek(settings: PiiSettings) -> KeyEncryptionKey | None:
    """
    Return the configured KEK, or None when neither a file nor a KMS key is set.

    Raises:
        KekConfigError: the JWK Set file is unusable, or the `kms` extra (boto3) is
            missing for an AWS KMS key (a ConfigError: exit 2, naming the setting).
    """
    if settings.kek_file is not None:
        try:
            return JwksFileKek.from_file(settings.kek_file)
        except KekConfigError as exc:
            raise KekConfigError(f"BRIDGE_PII_KEK_FILE: {exc.message}") from None
    if settings.kms_key_id is not None:
        try:
            from bridge.pii.kms import AwsKmsKek, KmsSettings  # noqa: PLC0415  (optional)
        except ImportError:
            raise KekConfigError(
                "BRIDGE_PII_KMS_KEY_ID: AWS KMS needs the `kms` extra "
                "(pip install 'kyc-bridge[kms]')"
            ) from None
        return AwsKmsKek(
            KmsSettings(
                key_id=settings.kms_key_id,
                region=settings.kms_region or "us-east-1",
                endpoint_url=settings.kms_endpoint_url,
            )
        )
    return None
