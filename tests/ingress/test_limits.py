"""
Inbound protection on a real listening socket: TLS, timeouts, concurrency,
connection and request-head caps, allowlists behind proxies, no Server header.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import pytest
from structlog.testing import capture_logs

from bridge.config import load_settings
from bridge.ingress.app import create_app, start_site
from bridge.publish import Delivery, Record
from bridge.publish.memory import MemoryPublisher
from tests.support.certs import make_tls_files

TOKEN = "limits-token-000000000001"
PAYLOAD = orjson.dumps({"webhook_trigger": "submit", "submission_id": "sub_limits"})


@asynccontextmanager
async def serving(
    tmp_path: Path, env: dict[str, str], publisher: MemoryPublisher | None = None
) -> AsyncIterator[int]:
    """Run the app on an ephemeral port with the production runner settings."""
    settings = load_settings(
        {
            "BRIDGE_AUTH_TOKENS": TOKEN,
            "BRIDGE_SPOOL_DIR": str(tmp_path / "spool"),
            "BRIDGE_HTTP_HOST": "127.0.0.1",
            **env,
        }
    )
    runner, _ = await start_site(
        create_app(settings, publisher=publisher or MemoryPublisher()), settings, port=0
    )
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    async with asyncio.timeout(seconds):
        return await reader.read()


async def test_slow_request_head_is_cut_off(tmp_path: Path) -> None:
    """A client that never finishes its headers is disconnected after the read timeout."""
    async with serving(tmp_path, {"BRIDGE_HTTP_READ_TIMEOUT_S": "0.5"}) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /webhooks/argos HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        await writer.drain()
        assert b"" == await _closed_within(reader, 5)
        writer.close()


async def test_slow_body_gets_408(tmp_path: Path) -> None:
    """A body that does not arrive in time is answered 408 with a JSON error."""
    async with serving(tmp_path, {"BRIDGE_HTTP_READ_TIMEOUT_S": "0.5"}) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /webhooks/argos HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {TOKEN}\r\nContent-Length: 500\r\n\r\n".encode()
            + b'{"webhook'
        )
        await writer.drain()
        async with asyncio.timeout(5):
            response = await reader.readuntil(b"}}")
        writer.close()
    assert response.startswith(b"HTTP/1.1 408")
    assert b'"request_timeout"' in response


class StalledPublisher(MemoryPublisher):
    """Connected, but no acknowledgement ever arrives."""

    async def publish(
        self, topic: str, partition: int, records: Sequence[Record]
    ) -> list[Delivery]:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


async def test_concurrency_cap_answers_503_with_retry_after(tmp_path: Path) -> None:
    """Beyond BRIDGE_HTTP_MAX_CONCURRENCY in-flight webhooks, new ones get 503 + Retry-After."""
    publisher = StalledPublisher()  # requests stay in flight for the whole publish deadline
    env = {"BRIDGE_HTTP_MAX_CONCURRENCY": "2", "BRIDGE_PUBLISH_DEADLINE_MS": "1000"}
    async with serving(tmp_path, env, publisher) as port, aiohttp.ClientSession() as session:

        async def post(i: int) -> tuple[int, str | None, str]:
            body = orjson.dumps({"webhook_trigger": "submit", "submission_id": f"s{i}"})
            async with session.post(
                f"http://127.0.0.1:{port}/webhooks/argos/{TOKEN}", data=body
            ) as response:
                payload = await response.json()
                code = payload.get("error", {}).get("code", payload.get("stored"))
                return response.status, response.headers.get("Retry-After"), code

        first = [asyncio.create_task(post(i)) for i in range(2)]
        await asyncio.sleep(0.3)
        refused = await post(99)
        accepted = await asyncio.gather(*first)
    assert (503, "1", "overloaded") == refused
    assert [(202, None, "spool")] * 2 == accepted


async def test_tls_listener(tmp_path: Path) -> None:
    """With a certificate configured the listener speaks TLS (and only TLS)."""
    tls = make_tls_files(tmp_path / "tls")
    env = {
        "BRIDGE_HTTP_TLS_CERTFILE": str(tls.broker_keystore_pem),
        "BRIDGE_HTTP_TLS_KEYFILE": str(tls.broker_keystore_pem),
    }
    async with serving(tmp_path, env) as port, aiohttp.ClientSession() as session:
        context = tls.client_context(with_client_cert=False)
        async with session.post(
            f"https://127.0.0.1:{port}/webhooks/argos/{TOKEN}", data=PAYLOAD, ssl=context
        ) as response:
            assert 200 == response.status
        plain: Callable[[], object] = lambda: session.get(f"http://127.0.0.1:{port}/livez")  # noqa: E731
        try:
            async with plain() as response:  # type: ignore[attr-defined]
                status = response.status
        except aiohttp.ClientError:
            status = None
        assert 200 != status


async def test_outside_the_allowlist_is_answered_like_an_unknown_token(tmp_path: Path) -> None:
    """A valid token from outside the allowlist gets the unknown token's exact 401; logs differ."""
    env = {"BRIDGE_ALLOWED_CIDRS": "203.0.113.0/24"}
    async with serving(tmp_path, env) as port, aiohttp.ClientSession() as session:
        answers = []
        with capture_logs() as logs:
            for token in (TOKEN, "unknown-token-0000000000"):
                url = f"http://127.0.0.1:{port}/webhooks/argos/{token}"
                async with session.post(url, data=PAYLOAD) as response:
                    answers.append((response.status, await response.read()))
    assert answers[0] == answers[1]
    assert 401 == answers[0][0]
    assert {"code": "unauthorized", "message": "missing or invalid webhook token"} == (
        orjson.loads(answers[0][1])["error"]
    )
    handled = [e["error"] for e in logs if e["event"] == "webhook.handled"]
    assert ["forbidden", "unauthorized"] == handled


async def test_source_allowlist_and_trusted_proxies(tmp_path: Path) -> None:
    """Outside the allowlist: 401; X-Forwarded-For counts only behind a trusted proxy."""
    url_env = {"BRIDGE_ALLOWED_CIDRS": "203.0.113.0/24"}
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    async with serving(tmp_path / "a", url_env) as port, aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{port}/webhooks/argos/{TOKEN}"
        async with session.post(url, data=PAYLOAD) as direct:
            assert 401 == direct.status
        async with session.post(url, data=PAYLOAD, headers=forwarded) as spoofed:
            assert 401 == spoofed.status  # the peer is not a trusted proxy: header ignored
    proxied_env = {**url_env, "BRIDGE_TRUSTED_PROXIES": "127.0.0.0/8"}
    async with serving(tmp_path / "b", proxied_env) as port, aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{port}/webhooks/argos/{TOKEN}"
        async with session.post(url, data=PAYLOAD, headers=forwarded) as proxied:
            assert 200 == proxied.status


@dataclass(frozen=True)
class RawResponse:
    """An HTTP response read off a socket."""

    status: int
    headers: dict[str, str]
    body: bytes

    @classmethod
    def parse(cls, data: bytes) -> RawResponse:
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines)
        return cls(int(status_line.split(" ")[1]), {k.lower(): v for k, v in headers.items()}, body)

    @property
    def code(self) -> object:
        return orjson.loads(self.body)["error"]["code"]


async def exchange(port: int, request: bytes, *, timeout: float = 5.0) -> bytes:
    """Send raw bytes and read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(timeout):
            return await reader.read()
    finally:
        writer.close()


def webhook_request(*header_lines: str, body: bytes = PAYLOAD, close: bool = True) -> bytes:
    """A complete webhook POST with extra header lines (`Connection: close` unless not `close`)."""
    head = [
        f"POST /webhooks/argos/{TOKEN} HTTP/1.1",
        "Host: bridge",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(["Connection: close"] if close else []),
        *header_lines,
    ]
    return "\r\n".join(head).encode() + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        # The client forges an allowed first line; the trusted proxy appends the real address
        # on a line of its own. Reading only the first line let the forgery through.
        (["X-Forwarded-For: 203.0.113.7", "X-Forwarded-For: 198.51.100.9"], 401),
        (["X-Forwarded-For: 203.0.113.7, 198.51.100.9"], 401),  # the same, on one line
        (["X-Forwarded-For: 198.51.100.9", "X-Forwarded-For: 203.0.113.7"], 200),
        (["X-Forwarded-For: 198.51.100.9", "X-Forwarded-For: 203.0.113.7, 127.0.0.2"], 200),
    ],
)
async def test_every_forwarded_for_line_counts_behind_a_trusted_proxy(
    tmp_path: Path, lines: list[str], status: int
) -> None:
    """All X-Forwarded-For lines, in order, decide the client: the right-most untrusted hop."""
    env = {"BRIDGE_ALLOWED_CIDRS": "203.0.113.0/24", "BRIDGE_TRUSTED_PROXIES": "127.0.0.0/8"}
    async with serving(tmp_path, env) as port:
        response = RawResponse.parse(await exchange(port, webhook_request(*lines)))
    assert status == response.status


def _filler(count: int, size: int) -> list[str]:
    return [f"X-Filler-{i}: {'f' * size}" for i in range(count)]


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        (_filler(20, 10), "more header lines than BRIDGE_HTTP_MAX_HEADERS"),
        (_filler(6, 1000), "more bytes than BRIDGE_HTTP_MAX_HEADER_BYTES"),
        (_filler(1, 9000), "one line longer than aiohttp's 8190-byte line limit"),
    ],
)
async def test_oversized_request_heads_get_431_and_are_disconnected(
    tmp_path: Path, lines: list[str], why: str
) -> None:
    """Heads beyond the header count or size caps: 431 `headers_too_large`, connection closed."""
    env = {"BRIDGE_HTTP_MAX_HEADERS": "16", "BRIDGE_HTTP_MAX_HEADER_BYTES": "4096"}
    async with serving(tmp_path, env) as port:
        # A keep-alive request: reading to the end only returns because the server closes.
        data = await exchange(port, webhook_request(*lines, close=False))
    response = RawResponse.parse(data)
    assert (431, "headers_too_large") == (response.status, response.code), why


async def test_an_unfinished_head_is_cut_off_at_the_byte_cap(tmp_path: Path) -> None:
    """A head that never ends is answered 431 and closed once it passes the byte cap."""
    env = {"BRIDGE_HTTP_MAX_HEADER_BYTES": "4096"}
    async with serving(tmp_path, env) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /webhooks/argos HTTP/1.1\r\nHost: x\r\n")
        # Small writes, like a slow client, never the closing blank line; the fifth passes
        # 4096 bytes (the client stops there, so the server's answer is not reset away).
        for i in range(5):
            writer.write(f"X-Slow-{i}: {'s' * 1000}\r\n".encode())
            await writer.drain()
            await asyncio.sleep(0.05)
        async with asyncio.timeout(5):
            data = await reader.read()
        writer.close()
    response = RawResponse.parse(data)
    assert (431, "headers_too_large") == (response.status, response.code)


async def test_bodies_and_many_requests_on_one_connection_do_not_count_as_head(
    tmp_path: Path,
) -> None:
    """The head cap is per request: a large body and 30 keep-alive requests pass."""
    env = {"BRIDGE_HTTP_MAX_HEADER_BYTES": "4096", "BRIDGE_HTTP_MAX_BODY_BYTES": "200000"}
    big = orjson.dumps({"webhook_trigger": "submit", "submission_id": "s", "pad": "p" * 150_000})
    connector = aiohttp.TCPConnector(limit=1)  # one connection, reused
    async with serving(tmp_path, env) as port, aiohttp.ClientSession(connector=connector) as s:
        url = f"http://127.0.0.1:{port}/webhooks/argos/{TOKEN}"
        statuses = []
        for i in range(30):
            body = big if i == 0 else orjson.dumps({"webhook_trigger": "submit", "n": i})
            async with s.post(url, data=body, headers={"X-Pad": "h" * 2000}) as response:
                statuses.append(response.status)
    assert [200] * 30 == statuses


async def test_connections_beyond_the_cap_get_503_and_are_closed(tmp_path: Path) -> None:
    """Past BRIDGE_HTTP_MAX_CONNECTIONS a new connection is answered 503 at once and closed."""
    async with serving(tmp_path, {"BRIDGE_HTTP_MAX_CONNECTIONS": "3"}) as port:
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(5):
            refused = RawResponse.parse(await reader.read())  # nothing sent: answered anyway
        writer.close()
        _, first = idle.pop()
        first.close()
        await first.wait_closed()
        await asyncio.sleep(0.1)  # the server notices the close and frees the slot
        served = RawResponse.parse(await exchange(port, webhook_request()))
        for _, other in idle:
            other.close()
    assert (503, "too_many_connections", "1") == (
        refused.status,
        refused.code,
        refused.headers["retry-after"],
    )
    assert 200 == served.status


async def test_no_response_carries_a_server_header(tmp_path: Path) -> None:
    """No `Server: Python/... aiohttp/...` on any answer: webhook, errors, health, refusals."""
    async with serving(tmp_path, {"BRIDGE_HTTP_MAX_CONNECTIONS": "2"}) as port:
        requests = [
            webhook_request(),
            webhook_request().replace(TOKEN.encode(), b"not-the-token-0000000000"),
            b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"BROKEN\r\n\r\n",
            webhook_request(*_filler(200, 10)),
        ]
        answers = [RawResponse.parse(await exchange(port, r)) for r in requests]
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        await asyncio.sleep(0.1)
        answers.append(RawResponse.parse(await exchange(port, b"")))
        for _, writer in held:
            writer.close()
    assert [200, 401, 200, 200, 200, 404, 400, 431, 503] == [a.status for a in answers]
    assert [] == [a.headers["server"] for a in answers if "server" in a.headers]


async def _exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes and read one answer (head and Content-Length body) within 5 s."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    try:
        async with asyncio.timeout(5):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            return head + await reader.readexactly(length)
    finally:
        writer.close()


async def test_header_bytes_that_are_not_utf8_get_an_answer_not_a_500(tmp_path: Path) -> None:
    """
    Raw non-UTF-8 bytes in a Bearer token are an unknown token (401); in User-Agent or
    Content-Type of a valid webhook they are stored as U+FFFD and the webhook is accepted
    (it was a 500, and the result could never be accepted).
    """
    publisher = MemoryPublisher()
    async with serving(tmp_path, {}, publisher) as port:
        token = await _exchange(
            port,
            b"POST /webhooks/argos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe-x\r\n"
            + f"Content-Length: {len(PAYLOAD)}\r\n\r\n".encode()
            + PAYLOAD,
        )
        agent = await _exchange(
            port,
            f"POST /webhooks/argos/{TOKEN} HTTP/1.1\r\nHost: x\r\n".encode()
            + b"User-Agent: curl\xff\r\nContent-Type: application/json; x=\xfe\r\n"
            + f"Content-Length: {len(PAYLOAD)}\r\n\r\n".encode()
            + PAYLOAD,
        )
    assert token.startswith(b"HTTP/1.1 401")
    assert b'"unauthorized"' in token
    assert agent.startswith(b"HTTP/1.1 200"), agent
    assert 1 == len(publisher.records("kyc.events.v1"))


async def test_a_body_that_cannot_be_decoded_as_sent_is_a_400(tmp_path: Path) -> None:
    """A Content-Encoding the body does not follow: 400 `bad_request`, not a 500."""
    async with serving(tmp_path, {}) as port:
        with capture_logs() as logs:
            answer = await _exchange(
                port,
                f"POST /webhooks/argos/{TOKEN} HTTP/1.1\r\nHost: x\r\n".encode()
                + b"Content-Encoding: gzip\r\nContent-Length: 20\r\n\r\n"
                + b"x" * 20,
            )
    assert answer.startswith(b"HTTP/1.1 400")
    assert b'"bad_request"' in answer
    assert [] == [line for line in logs if line["event"] == "http.unhandled_error"]


async def test_an_unknown_expectation_is_a_json_417_and_100_continue_still_works(
    tmp_path: Path,
) -> None:
    """
    `Expect: foo` got aiohttp's plain-text 417 before any middleware (no code, no log line,
    no metric): now a JSON 417 `expectation_failed` like every other error; a client that
    sends `Expect: 100-continue` still gets its 100 Continue and its answer.
    """
    async with serving(tmp_path, {}) as port:
        with capture_logs() as logs:
            refused = await _exchange(
                port, b"GET /livez HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n"
            )
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"POST /webhooks/argos/{TOKEN} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n".encode()
            + f"Content-Length: {len(PAYLOAD)}\r\n\r\n".encode()
        )
        await writer.drain()
        async with asyncio.timeout(5):
            interim = await reader.readuntil(b"\r\n\r\n")
            writer.write(PAYLOAD)
            answer = await reader.readuntil(b"\r\n\r\n")
        writer.close()
    assert refused.startswith(b"HTTP/1.1 417")
    assert b'"expectation_failed"' in refused
    assert [] == [line for line in logs if line["event"] == "http.unhandled_error"]
    assert interim.startswith(b"HTTP/1.1 100")
    assert answer.startswith(b"HTTP/1.1 200")
