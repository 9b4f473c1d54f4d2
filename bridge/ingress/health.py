"""`/livez`, `/readyz` and `/metrics`."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bridge.ingress.middleware import json_response
from bridge.ingress.state import SERVICES

__all__ = ["livez", "metrics", "readyz"]


async def livez(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers."""
    return json_response(200, {"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 when webhooks can be stored (Kafka or spool); 503 during shutdown or when neither."""
    services = request.app[SERVICES]
    ingest = services.ingest
    ready = await ingest.check()
    spool = ingest.spool
    body: dict[str, object] = {
        "kafka": "connected" if ingest.publisher_connected else "disconnected",
        "spool": {
            "events": spool.events,
            "bytes": spool.bytes,
            "writable": spool.writable,
            "free_bytes": spool.free_bytes,
            "disk_low": spool.disk_low,
        },
        "shutting_down": ingest.gate.closing,
    }
    body["status"] = "ready" if ready else "not_ready"
    return json_response(200 if ready else 503, body)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of the app's registry."""
    registry = request.app[SERVICES].metrics.registry
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
