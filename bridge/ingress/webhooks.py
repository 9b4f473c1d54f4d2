"""
The ARGOS webhook handler: authenticate, read, decode, normalize, store.
Every step is a call into the pure core; this module only moves bytes.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from bridge.auth import bearer_token, client_address
from bridge.deadletter import Origin
from bridge.decode import decode_for
from bridge.delivery.ingest import Receipt
from bridge.errors import (
    InvalidPayloadError,
    PayloadTooLargeError,
    PermanentError,
    RequestTimeoutError,
)
from bridge.ingress.middleware import answer_encrypted, json_response, note
from bridge.ingress.state import SERVICES

__all__ = ["handle_webhook"]


async def _read_body(request: web.Request, limit: int, timeout_s: float) -> bytes:
    """Read at most `limit` bytes within `timeout_s` (raises 413 / 408 / 400 errors)."""
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLargeError(f"body larger than {limit} bytes")
    try:
        if length is not None and request.content.is_eof():
            return await request.read()  # all of it already arrived: nothing to wait for
        async with asyncio.timeout(timeout_s):
            if length is not None:  # the common case: aiohttp stops at Content-Length
                return await request.read()
            chunks: list[bytes] = []
            size = 0
            async for chunk in request.content.iter_chunked(65536):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError(f"body larger than {limit} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except TimeoutError:
        raise RequestTimeoutError("request body not received in time") from None
    except RequestPayloadError:  # a Content-Encoding that does not decode, bad chunking
        raise PermanentError("request body could not be read as sent") from None
    except ConnectionResetError:  # the client left before its body arrived
        raise PermanentError("client closed the connection before the body arrived") from None


def _request_meta(request: web.Request, route: str) -> dict[str, str]:
    """
    Request metadata that is safe to store: no token, no query string; header bytes that
    are not UTF-8 (surrogates from aiohttp) become U+FFFD, so the metadata serializes.
    """
    return {
        "method": request.method,
        "route": route,
        "content_type": _text(request.headers.get("Content-Type", "")),
        "user_agent": _text(request.headers.get("User-Agent", "")[:200]),
        "remote": request.remote or "",
    }


def _text(value: str) -> str:
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _receipt_body(receipt: Receipt) -> dict[str, object]:
    body: dict[str, object] = {"event_id": receipt.event_id, "stored": receipt.stored}
    if receipt.duplicate:
        body["duplicate"] = True
    if receipt.delivery is not None:
        body["partition"] = receipt.delivery.partition
        body["offset"] = receipt.delivery.offset
    return body


async def handle_webhook(request: web.Request) -> web.Response:
    """POST /webhooks/argos/{token} and POST /webhooks/argos (Bearer)."""
    services = request.app[SERVICES]
    settings = services.settings
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.publish_deadline_s
    received_at = datetime.now(UTC)
    token = request.match_info.get("token") or bearer_token(request.headers.get("Authorization"))
    address = (
        client_address(
            request.remote,
            request.headers.getall("X-Forwarded-For", []),
            settings.http.trusted_proxies,
        )
        if services.authenticator.uses_addresses
        else None
    )
    project = services.authenticator.authenticate(token, address)
    note(request, project=project.name)
    body = await _read_body(request, settings.http.max_body_bytes, settings.http.read_timeout_s)
    route = request.match_info.route.resource
    origin = Origin(
        body, project.name, received_at, _request_meta(request, route.canonical if route else "")
    )
    try:
        decoded = decode_for(project, body)
        if decoded.key is not None and project.encrypt_responses:
            answer_encrypted(request, decoded.key)
        draft = services.factory.draft(
            decoded.payload,
            project=project.name,
            received_at=received_at,
            encrypted=decoded.encrypted,
        )
    except InvalidPayloadError as exc:
        dead = await services.ingest.reject(origin, exc)
        note(request, stored="dlq", dlq_event_id=dead.event_id)
        raise
    note(
        request,
        encrypted=decoded.encrypted,
        event_id=draft.event_id,
        event_type=draft.event_type,
        submission_id=draft.subject,
    )
    try:
        receipt = await services.ingest.accept(
            draft, settings.topic_for(project), deadline=deadline, origin=origin
        )
    except InvalidPayloadError:  # refused for good: already dead-lettered, body as received
        note(request, stored="dlq")
        raise
    outcome = "duplicate" if receipt.duplicate else receipt.stored
    services.metrics.webhook_done(draft.event_type, outcome)
    fields: dict[str, object] = {"stored": receipt.stored, "outcome": outcome}
    if receipt.delivery is not None:
        fields.update(partition=receipt.delivery.partition, offset=receipt.delivery.offset)
    note(request, **fields)
    return json_response(200 if receipt.stored == "kafka" else 202, _receipt_body(receipt))
