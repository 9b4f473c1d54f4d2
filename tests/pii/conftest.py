"""Fixtures of the personal-data tests: KEK adapters and a local AWS KMS emulator server."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import orjson
import pytest
from moto.server import ThreadedMotoServer

from bridge.pii.compact import b64url_encode
from bridge.pii.jwks import JwksFileKek
from bridge.pii.kek import KeyEncryptionKey
from bridge.pii.kms import AwsKmsKek, KmsSettings

REGION = "eu-central-1"
OTHER_REGION = "us-east-1"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # the emulator accepts any credentials
    "AWS_SESSION_TOKEN": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def jwk(kid: str, fill: int) -> dict[str, str]:
    """Return a 256-bit oct JWK whose key bytes are all `fill` (readable in tests)."""
    return {"kty": "oct", "kid": kid, "k": b64url_encode(bytes([fill]) * 32).decode()}


def write_jwks(path: Path, *keys: dict[str, str]) -> Path:
    """Write a JWK Set file with `keys` in order and return its path."""
    path.write_bytes(orjson.dumps({"keys": list(keys)}))
    return path


@contextlib.contextmanager
def moto_kms_server() -> Iterator[str]:
    """
    Run a moto KMS emulator server on 127.0.0.1 (port 0), with dummy AWS credentials
    in this process's environment; yield its endpoint URL.
    """
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in AWS_ENV.items():
            patch.setenv(name, value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="session", name="kms_endpoint")
def _kms_endpoint() -> Iterator[str]:
    """A moto KMS emulator server for the session (see `moto_kms_server`)."""
    with moto_kms_server() as endpoint:
        yield endpoint


def create_kms_key(endpoint: str, region: str = REGION) -> str:
    """Create a symmetric KMS key in the emulator and return its ARN."""
    client = boto3.session.Session().client("kms", region_name=region, endpoint_url=endpoint)
    return client.create_key(Description="kyc-bridge test KEK")["KeyMetadata"]["Arn"]


@dataclass
class KekGenerations:
    """Adapters of one kind: before and after a rotation, and one that knows no old key."""

    kind: str
    first: KeyEncryptionKey  # wraps with key A
    rotated: KeyEncryptionKey  # wraps with a new key B, still unwraps A
    stranger: KeyEncryptionKey  # knows neither A nor B
    first_kid: str  # the header kid of what `first` wraps
    rotated_kid: str  # the header kid of what `rotated` wraps
    alg: str


@pytest.fixture(scope="module", name="keks", params=["jwks", "kms"])
def _keks(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> KekGenerations:
    """The contract suite's adapters: a JWK Set file, or AWS KMS on the emulator server."""
    tmp_path = tmp_path_factory.mktemp("keks")
    if request.param == "jwks":
        a, b, c = jwk("kek-a", 1), jwk("kek-b", 2), jwk("kek-c", 3)
        return KekGenerations(
            kind="jwks",
            first=JwksFileKek.from_file(write_jwks(tmp_path / "v1.json", a)),
            rotated=JwksFileKek.from_file(write_jwks(tmp_path / "v2.json", b, a)),
            stranger=JwksFileKek.from_file(write_jwks(tmp_path / "c.json", c)),
            first_kid="kek-a",
            rotated_kid="kek-b",
            alg="A256KW",
        )
    endpoint: str = request.getfixturevalue("kms_endpoint")
    key_a, key_b = create_kms_key(endpoint), create_kms_key(endpoint)
    key_c = create_kms_key(endpoint, OTHER_REGION)
    return KekGenerations(
        kind="kms",
        first=AwsKmsKek(KmsSettings(key_a, REGION, endpoint)),
        rotated=AwsKmsKek(KmsSettings(key_b, REGION, endpoint)),
        stranger=AwsKmsKek(KmsSettings(key_c, OTHER_REGION, endpoint)),
        first_kid=key_a,
        rotated_kid=key_b,
        alg="aws-kms",
    )
