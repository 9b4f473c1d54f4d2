"""AwsKmsKek against the moto KMS emulator server: format, consumer recipe, cache, failures."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import boto3
import orjson
import pytest
import structlog
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from moto.server import ThreadedMotoServer

from bridge.logs import Redactor, configure_logging
from bridge.pii.compact import b64url_decode
from bridge.pii.errors import KekConfigError, KekUnavailableError, TamperedError
from bridge.pii.keys import dek_to_jwk, new_data_key
from bridge.pii.kms import AwsKmsKek, KmsSettings
from tests.pii.conftest import REGION, create_kms_key

SUBJECT = "token:8f2d4d32"


async def test_header_names_the_arn_when_an_alias_is_configured(kms_endpoint: str) -> None:
    """Wrapping through an alias records the key ARN, so re-pointing the alias breaks nothing."""
    arn = create_kms_key(kms_endpoint)
    client = boto3.session.Session().client("kms", region_name=REGION, endpoint_url=kms_endpoint)
    client.create_alias(AliasName="alias/kyc-bridge-test-alias", TargetKeyId=arn)
    kek = AwsKmsKek(KmsSettings("alias/kyc-bridge-test-alias", REGION, kms_endpoint))
    wrapped = await kek.wrap(new_data_key(SUBJECT))
    assert "alias/kyc-bridge-test-alias" == kek.kid
    assert arn == orjson.loads(b64url_decode(wrapped.split(".")[0]))["kid"]


async def test_consumer_recipe_unwraps_without_the_bridge(kms_endpoint: str) -> None:
    """The documented recipe (KMS Decrypt of segment 2, then AES-GCM) yields the DEK JWK."""
    kek = AwsKmsKek(KmsSettings(create_kms_key(kms_endpoint), REGION, kms_endpoint))
    dek = new_data_key(SUBJECT)
    wrapped = await kek.wrap(dek)
    header_b64, encrypted_key, iv, ciphertext, tag = wrapped.split(".")
    header = orjson.loads(b64url_decode(header_b64))
    client = boto3.session.Session().client("kms", region_name=REGION, endpoint_url=kms_endpoint)
    cek = client.decrypt(
        CiphertextBlob=b64url_decode(encrypted_key),
        KeyId=header["kid"],
        EncryptionContext={"kyc_subject": SUBJECT, "kyc_dek_kid": dek.kid},
    )["Plaintext"]
    jwk = AESGCM(cek).decrypt(
        b64url_decode(iv), b64url_decode(ciphertext) + b64url_decode(tag), header_b64.encode()
    )
    assert orjson.loads(dek_to_jwk(dek)) == orjson.loads(jwk)


async def test_encryption_context_binds_the_subject(kms_endpoint: str) -> None:
    """A wrapped key presented under another subject is refused by KMS: TamperedError."""
    kek = AwsKmsKek(KmsSettings(create_kms_key(kms_endpoint), REGION, kms_endpoint))
    dek = new_data_key(SUBJECT)
    wrapped = await kek.wrap(dek)
    with pytest.raises(TamperedError):
        await kek.unwrap(wrapped, subject="token:other", kid=dek.kid)


async def test_wrap_with_a_missing_key_is_a_config_error(kms_endpoint: str) -> None:
    """A key id that KMS does not know makes wrap raise KekConfigError with the AWS code."""
    kek = AwsKmsKek(KmsSettings("alias/kyc-bridge-no-such-key", REGION, kms_endpoint))
    with pytest.raises(KekConfigError) as info:
        await kek.wrap(new_data_key(SUBJECT))
    assert "NotFoundException" in info.value.message


async def test_unreachable_kms_is_transient() -> None:
    """No server at the endpoint: wrap raises KekUnavailableError (retry later)."""
    settings = KmsSettings("alias/x", REGION, "http://127.0.0.1:9", max_attempts=1)
    with pytest.raises(KekUnavailableError):
        await AwsKmsKek(settings).wrap(new_data_key(SUBJECT))


@pytest.fixture(name="own_server")
def _own_server(kms_endpoint: str) -> Iterator[tuple[ThreadedMotoServer, str]]:
    """A second emulator server that a test may stop (the session's one keeps running)."""
    del kms_endpoint  # only for its AWS credential environment
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield server, f"http://{host}:{port}"
    finally:
        server.stop()


async def test_cache_answers_without_kms_and_is_bounded(
    own_server: tuple[ThreadedMotoServer, str],
) -> None:
    """Unwrapped DEKs are cached by kid (bounded): with KMS gone, only cached kids unwrap."""
    server, endpoint = own_server
    settings = KmsSettings(create_kms_key(endpoint), REGION, endpoint, max_attempts=1)
    kek = AwsKmsKek(settings, cache_size=2)
    deks = [new_data_key(f"s{i}") for i in range(3)]
    wrapped = [await kek.wrap(dek) for dek in deks]
    for dek, token in zip(deks, wrapped, strict=True):
        await kek.unwrap(token, subject=dek.subject, kid=dek.kid)
    server.stop()
    for dek, token in zip(deks[1:], wrapped[1:], strict=True):
        assert dek == await kek.unwrap(token, subject=dek.subject, kid=dek.kid)
    with pytest.raises(KekUnavailableError):  # evicted: the oldest of three with room for two
        await kek.unwrap(wrapped[0], subject=deks[0].subject, kid=deks[0].kid)
    kek.forget(deks[2].kid)
    with pytest.raises(KekUnavailableError):
        await kek.unwrap(wrapped[2], subject=deks[2].subject, kid=deks[2].kid)


async def test_debug_logging_shows_no_kms_body_and_no_signed_header(
    kms_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    At `BRIDGE_LOG_LEVEL=DEBUG`, botocore would log each KMS request and response body
    (the content key of a wrapped data key, in `Plaintext`) and the signed headers (the
    AWS session token): its loggers stay at WARNING while other libraries log DEBUG.
    """
    monkeypatch.setenv("AWS_SESSION_TOKEN", "CANARY-SESSION-TOKEN")
    stream = io.StringIO()
    configure_logging("DEBUG", Redactor(), stream=stream)
    try:
        kek = AwsKmsKek(KmsSettings(create_kms_key(kms_endpoint), REGION, kms_endpoint))
        dek = new_data_key(SUBJECT)
        wrapped = await kek.wrap(dek)
        kek.forget(dek.kid)
        assert dek == await kek.unwrap(wrapped, subject=SUBJECT, kid=dek.kid)
        logging.getLogger("some.library").debug("a library's debug line")
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    output = stream.getvalue()
    assert "a library's debug line" in output  # DEBUG lines of libraries do get through
    assert "Plaintext" not in output
    assert "CANARY-SESSION-TOKEN" not in output
