"""
No personal data and no secret reaches any log line, on any path.

Fixtures full of unique canary values are pushed through every path (success,
DLQ, decryption failure, auth failure, Kafka down, spool full, an internal
error with a traceback); the captured output must contain none of them.
"""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bridge import crypto
from bridge.config import load_settings
from bridge.ingress.app import create_app
from bridge.ingress.state import SERVICES
from bridge.logs import LibraryRateLimit, Redactor, configure_logging
from bridge.pii import DataKey
from bridge.pii.errors import KekConfigError
from bridge.pii.marking import personal_keys
from bridge.publish.memory import MemoryPublisher
from bridge.schemas import load_registry
from tests.pii.conftest import jwk, write_jwks

TOKEN = "canary-token-TKN-7f3a9c2e"
API_KEY = "canary-apikey-KEY-51be77"
CANARIES = {
    "full_name": "CANARY-NAME-Quixote",
    "fullName": "CANARY-NAME2-Rocinante",
    "first_name": "CANARY-FIRST-Dulcinea",
    "email": "canary.email.9d1@example.com",
    "date_of_birth": "1911-11-11",
    "identityNumber": "CANARY-ID-880101-1234567",
    "documentNumber": "CANARY-DOC-M12345678",
    "ssnNumber": "CANARY-SSN-078-05-1120",
    "phoneNumber": "+82-10-CANARY-5555",
    "ipAddress": "198.18.77.66",
    "userid": "CANARY-USER-u81",
    "tokenId": "CANARY-TOKENID-t55",
}
Client = TestClient[web.Request, web.Application]


def _payload(trigger: str = "approved") -> dict[str, object]:
    return {
        "webhook_trigger": trigger,
        "submission_id": "sub_canary_1",
        "cf": {"cf1": "CANARY-CF1-x", "cf2": "", "cf3": ""},
        "kyc_result": {"status": "approved", "updated_at": "CANARY-NOT-A-DATE"},
        **CANARIES,
    }


_REGISTRY = load_registry()
PERSONAL = personal_keys(_REGISTRY.schema(n) for n in _REGISTRY.names)  # as the CLI builds it


@pytest.fixture(name="captured")
def _captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    redactor = Redactor(PERSONAL)
    redactor.add_secrets([TOKEN, API_KEY])
    configure_logging("DEBUG", redactor, stream=stream)
    yield stream
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


@pytest.fixture(name="publisher")
def _publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture(name="client")
async def _client(
    tmp_path: Path, publisher: MemoryPublisher, captured: io.StringIO
) -> AsyncIterator[Client]:
    settings = load_settings(
        {
            "BRIDGE_AUTH_TOKENS": TOKEN,
            "BRIDGE_ARGOS_API_KEYS": API_KEY,
            "BRIDGE_SPOOL_DIR": str(tmp_path),
            "BRIDGE_SPOOL_MAX_EVENTS": "3",
            "BRIDGE_PUBLISH_DEADLINE_MS": "200",
        }
    )
    async with TestClient(TestServer(create_app(settings, publisher=publisher))) as client:
        yield client


def _assert_clean(output: str) -> None:
    assert output.strip(), "nothing was logged at all"
    for value in [TOKEN, API_KEY, "CANARY-CF1-x", *CANARIES.values()]:
        assert value not in output, f"canary leaked: {value[:12]}..."


async def test_no_canary_on_any_path(
    client: Client, publisher: MemoryPublisher, captured: io.StringIO
) -> None:
    """Success, DLQ, bad decryption, bad auth, Kafka down and spool full all log no PII."""
    plain = orjson.dumps(_payload())
    encrypted = orjson.dumps({"data": crypto.encrypt(orjson.dumps(_payload("rejected")), API_KEY)})
    wrong_key = orjson.dumps({"data": crypto.encrypt(plain, "another-key-entirely")})
    url = f"/webhooks/argos/{TOKEN}"
    statuses = [
        (await client.post(url, data=plain)).status,  # success (plain)
        (await client.post(url, data=encrypted)).status,  # success (encrypted)
        (await client.post(url, data=wrong_key)).status,  # decryption failure -> DLQ
        (await client.post(url, data=plain[:-5])).status,  # not JSON -> DLQ
        (await client.post(f"/webhooks/argos/{TOKEN}x", data=plain)).status,  # bad token
        (await client.post("/webhooks/argos", data=plain, headers={"Authorization": TOKEN})).status,
    ]
    publisher.down = True  # Kafka down: spooled, then the spool fills up
    for trigger in ("updated", "aml", "delete", "retry"):
        statuses.append((await client.post(url, data=orjson.dumps(_payload(trigger)))).status)
    assert [200, 200, 400, 400, 401, 401] == statuses[:6]
    assert {202, 503} == set(statuses[6:])  # spooled while Kafka is down, then spool full
    _assert_clean(captured.getvalue())
    assert "webhook.handled" in captured.getvalue()


async def test_unexpected_error_traceback_is_redacted(
    client: Client, captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug that raises with payload data in its message still leaks nothing."""
    services = client.app[SERVICES] if client.app else None
    assert services is not None

    def explode(*_: object, **__: object) -> None:
        raise RuntimeError(f"boom {CANARIES['email']} {TOKEN}")

    monkeypatch.setattr(services.factory, "draft", explode)
    response = await client.post(f"/webhooks/argos/{TOKEN}", data=orjson.dumps(_payload()))
    assert 500 == response.status
    assert "internal_error" == (await response.json())["error"]["code"]
    output = captured.getvalue()
    assert "http.unhandled_error" in output
    assert TOKEN not in output


def test_redactor_masks_personal_keys_and_secrets() -> None:
    """The processor replaces personal keys at any depth and scrubs secrets in strings."""
    redactor = Redactor(PERSONAL)
    redactor.add_secrets([TOKEN])
    event = redactor(
        None,
        "info",
        {"event": "x", "nested": {"email": "a@b.c", "list": [{"full_name": "N"}]}, "msg": TOKEN},
    )
    expected = {
        "event": "x",
        "nested": {"email": "[redacted]", "list": [{"full_name": "[redacted]"}]},
        "msg": "[redacted]",
    }
    assert expected == event


def test_library_lines_are_rate_limited_per_message_template() -> None:
    """Regression: ~40 aiokafka lines/s during an outage; each template now passes once a minute."""
    now = [0.0]
    limit = LibraryRateLimit(60.0, clock=lambda: now[0])

    def record(msg: str, *args: object, name: str = "aiokafka") -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)

    passed = [
        limit.filter(record("Unable connect to node with id %s: %s", 1, i)) for i in range(1000)
    ]
    assert 1 == sum(passed)
    assert limit.filter(record("Unable to update metadata from %s", [1]))  # another template
    assert limit.filter(record("Unable connect to node with id %s: %s", 1, 0, name="other"))
    now[0] = 61.0
    again = record("Unable connect to node with id %s: %s", 1, 2)
    assert limit.filter(again)
    assert 999 == again.__dict__["suppressed"]


class _UnusableKek:
    """A KEK whose key is gone: wrapping fails with a message naming the key and account."""

    kid = "arn:aws:kms:eu-west-1:123456789012:key/CANARY-KEY-ID"

    async def wrap(self, dek: DataKey) -> str:
        raise KekConfigError(f"AWS KMS key {self.kid!r} cannot encrypt (NotFoundException)")

    async def unwrap(self, wrapped_key: str, *, subject: str, kid: str) -> DataKey:
        raise KekConfigError(f"AWS KMS key {self.kid!r} cannot decrypt (NotFoundException)")

    def forget(self, kid: str) -> None:
        return None


async def test_an_unusable_kek_is_explained_to_the_operator_not_to_the_sender(
    tmp_path: Path, captured: io.StringIO
) -> None:
    """
    A webhook needs a new data key and the KEK is unusable: 500 `pii_kek_config` with a
    message that names no key or account; the canonical line carries the detail.
    """
    settings = load_settings(
        {
            "BRIDGE_AUTH_TOKENS": TOKEN,
            "BRIDGE_SPOOL_DIR": str(tmp_path / "spool"),
            "BRIDGE_PII_PROTECTION": "encrypt",
            "BRIDGE_PII_KEK_FILE": str(write_jwks(tmp_path / "kek.jwks", jwk("kek-1", 7))),
        }
    )
    app = create_app(settings, publisher=MemoryPublisher(), kek=_UnusableKek())
    async with TestClient(TestServer(app)) as client:
        response = await client.post(f"/webhooks/argos/{TOKEN}", data=orjson.dumps(_payload()))
        body = await response.json()
    assert (500, "pii_kek_config") == (response.status, body["error"]["code"])
    assert "CANARY-KEY-ID" not in orjson.dumps(body).decode()
    (line,) = [
        orjson.loads(line)
        for line in captured.getvalue().splitlines()
        if '"webhook.handled"' in line
    ]
    assert "pii_kek_config" == line["error"]
    assert "CANARY-KEY-ID" in line["error_detail"]
