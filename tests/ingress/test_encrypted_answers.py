"""ARGOS's "bidirectional" encryption: encrypted requests get encrypted answers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from bridge import crypto
from bridge.config import load_settings
from bridge.errors import DecryptionError
from bridge.ingress.app import create_app
from bridge.publish.memory import MemoryPublisher

TOKEN = "answers-token-0000000001"
OLD_KEY, KEY = "argos-old-key-0001", "argos-new-key-0002"
PAYLOAD = {"webhook_trigger": "approved", "submission_id": "sub_answers"}
Client = TestClient[web.Request, web.Application]


@asynccontextmanager
async def serving(tmp_path: Path, publisher: MemoryPublisher, **env: str) -> AsyncIterator[Client]:
    """Serve the app with two API keys (rotation) and the given settings."""
    settings = load_settings(
        {
            "BRIDGE_AUTH_TOKENS": TOKEN,
            "BRIDGE_ARGOS_API_KEYS": f"{OLD_KEY},{KEY}",
            "BRIDGE_SPOOL_DIR": str(tmp_path / "spool"),
            "BRIDGE_PUBLISH_DEADLINE_MS": "200",
            **env,
        }
    )
    async with TestClient(TestServer(create_app(settings, publisher=publisher))) as client:
        yield client


def _encrypted(payload: object, key: str = KEY) -> bytes:
    return orjson.dumps({"data": crypto.encrypt(orjson.dumps(payload), key)})


async def _post(client: Client, body: bytes, token: str = TOKEN) -> ClientResponse:
    return await client.post(f"/webhooks/argos/{token}", data=body)


def _opened(body: bytes, key: str = KEY) -> dict[str, object]:
    """Open an encrypted answer: exactly `{"data": ciphertext}` around a JSON object."""
    envelope = orjson.loads(body)
    assert ["data"] == list(envelope)
    value = orjson.loads(crypto.decrypt(envelope["data"], [key]))
    assert isinstance(value, dict)
    return value


def _error_code(answer: dict[str, object]) -> object:
    error = answer["error"]
    assert isinstance(error, dict)
    return error["code"]


async def test_encrypted_only_project_answers_encrypted_by_default(tmp_path: Path) -> None:
    """allow_plaintext false: the answer is `{"data": ...}` with the key that opened the request."""
    publisher = MemoryPublisher()
    async with serving(tmp_path, publisher, BRIDGE_ALLOW_PLAINTEXT="false") as client:
        response = await _post(client, _encrypted(PAYLOAD))
        body = await response.read()
    answer = _opened(body)
    assert (200, "kafka") == (response.status, answer["stored"])
    assert "application/json" == response.content_type
    record = publisher.records("kyc.events.v1")[0]
    assert dict(record.headers)["ce_id"].decode() == answer["event_id"]


async def test_the_answer_uses_the_key_that_decrypted_the_request(tmp_path: Path) -> None:
    """During a key rotation the answer is encrypted with whichever key opened the request."""
    async with serving(tmp_path, MemoryPublisher(), BRIDGE_ALLOW_PLAINTEXT="false") as client:
        response = await _post(client, _encrypted(PAYLOAD, OLD_KEY))
        body = await response.read()
    assert "kafka" == _opened(body, OLD_KEY)["stored"]
    with pytest.raises((DecryptionError, orjson.JSONDecodeError)):
        _opened(body, KEY)


@pytest.mark.parametrize(
    ("env", "encrypted_request", "encrypted_answer"),
    [
        ({}, True, False),  # plaintext allowed: off by default
        ({"BRIDGE_ENCRYPT_RESPONSES": "true"}, True, True),
        ({"BRIDGE_ENCRYPT_RESPONSES": "true"}, False, False),  # a plain request: no key
        ({"BRIDGE_ALLOW_PLAINTEXT": "false", "BRIDGE_ENCRYPT_RESPONSES": "false"}, True, False),
    ],
)
async def test_the_setting_and_its_default(
    tmp_path: Path, env: dict[str, str], encrypted_request: bool, encrypted_answer: bool
) -> None:
    """Encrypted answers follow BRIDGE_ENCRYPT_RESPONSES, default on iff encrypted-only."""
    body = _encrypted(PAYLOAD) if encrypted_request else orjson.dumps(PAYLOAD)
    async with serving(tmp_path, MemoryPublisher(), **env) as client:
        response = await _post(client, body)
        raw = await response.read()
    assert 200 == response.status
    answer = _opened(raw) if encrypted_answer else orjson.loads(raw)
    assert "kafka" == answer["stored"]


async def test_errors_after_decryption_are_answered_encrypted(tmp_path: Path) -> None:
    """A 400 found after a key opened the body keeps its status; its error body is encrypted."""
    publisher = MemoryPublisher()
    env = {"BRIDGE_ALLOW_PLAINTEXT": "false", "BRIDGE_KAFKA_MAX_RECORD_BYTES": "1024"}
    async with serving(tmp_path, publisher, **env) as client:
        response = await _post(client, _encrypted({**PAYLOAD, "pad": "p" * 2000}))
        body = await response.read()
    assert 400 == response.status
    assert "event_too_large" == _error_code(_opened(body))


async def test_transient_errors_after_decryption_keep_status_and_retry_after(
    tmp_path: Path,
) -> None:
    """A 503 to an opened request is encrypted too, with its status and Retry-After."""
    publisher = MemoryPublisher()
    publisher.down = True
    env = {
        "BRIDGE_ALLOW_PLAINTEXT": "false",
        "BRIDGE_SPOOL_MAX_BYTES": str(64 * 1024),
        "BRIDGE_PUBLISH_DEADLINE_MS": "50",
    }
    async with serving(tmp_path, publisher, **env) as client:
        for i in range(40):
            payload = {**PAYLOAD, "submission_id": f"s{i}", "pad": "p" * 8000}
            response = await _post(client, _encrypted(payload))
            if response.status == 503:
                break
        body = await response.read()
    assert (503, "30") == (response.status, response.headers.get("Retry-After"))
    assert "spool_full" == _error_code(_opened(body))


@pytest.mark.parametrize(
    ("body", "token", "status", "code"),
    [
        (_encrypted(PAYLOAD), "wrong-token-00000000000", 401, "unauthorized"),
        (_encrypted(PAYLOAD, "unknown-key-000"), TOKEN, 400, "decryption_failed"),
        (orjson.dumps(PAYLOAD), TOKEN, 400, "plaintext_not_allowed"),
    ],
)
async def test_errors_before_a_key_opened_the_request_stay_plain(
    tmp_path: Path, body: bytes, token: str, status: int, code: str
) -> None:
    """Unauthenticated or undecryptable requests have no key to answer with: plain JSON."""
    async with serving(tmp_path, MemoryPublisher(), BRIDGE_ALLOW_PLAINTEXT="false") as client:
        response = await _post(client, body, token)
        answer = await response.json()
    assert (status, code) == (response.status, answer["error"]["code"])


async def test_kyc_bridge_argos_decrypt_opens_an_encrypted_answer(tmp_path: Path) -> None:
    """A real encrypted answer piped through `kyc-bridge argos decrypt` gives its JSON back."""
    async with serving(tmp_path, MemoryPublisher(), BRIDGE_ALLOW_PLAINTEXT="false") as client:
        response = await _post(client, _encrypted(PAYLOAD))
        answer = await response.read()
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "argos", "decrypt", "--api-key", KEY],
        input=answer,
        capture_output=True,
        env={"PATH": os.environ.get("PATH", "")},
        timeout=60,
        check=False,
    )
    assert (0, b"") == (result.returncode, result.stderr)
    opened = orjson.loads(result.stdout)
    assert (200, "kafka") == (response.status, opened["stored"])
