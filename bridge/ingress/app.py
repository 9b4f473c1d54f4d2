"""
Wiring: `create_app` builds the aiohttp app with one lifecycle context
(`cleanup_ctx`); `serve` runs it with graceful SIGTERM handling.

Close order on shutdown, all within one deadline held by the gate
(`BRIDGE_SHUTDOWN_GRACE_S`): the gate closes (new webhooks 503, /readyz
false), requests in flight finish (up to half the grace period), the HTTP
server stops, then `Ingest.stop` closes the delivery core in its fixed
order (relay, background tasks, producer, spool).
"""

from __future__ import annotations

import asyncio
import gc
import signal
import ssl
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from bridge.auth import Authenticator
from bridge.config import Settings
from bridge.delivery.ingest import Ingest
from bridge.delivery.reconciler import Reconciler
from bridge.events import EventFactory
from bridge.ingress import health
from bridge.ingress.listener import EdgeSite
from bridge.ingress.middleware import drop_server_header, expect_continue, middleware
from bridge.ingress.state import SERVICES, Services
from bridge.ingress.webhooks import handle_webhook
from bridge.metrics import Metrics
from bridge.pii import KeyEncryptionKey
from bridge.pii.load import load_kek
from bridge.publish import Publisher
from bridge.publish.kafka import KafkaPublisher
from bridge.schemas import load_registry

__all__ = ["create_app", "serve", "start_site"]

log = structlog.get_logger("bridge.app")


def create_app(
    settings: Settings,
    *,
    publisher: Publisher | None = None,
    kek: KeyEncryptionKey | None = None,
) -> web.Application:
    """
    Build the app; resources open and close in its `cleanup_ctx`. The KEK is the
    configured one unless given.

    Raises:
        ConfigError: the KEK cannot be loaded (naming its setting).
    """
    metrics = Metrics()
    factory = EventFactory(load_registry())
    ingest = Ingest(
        settings,
        publisher or KafkaPublisher(settings.kafka),
        metrics,
        factory=factory,
        kek=kek or load_kek(settings.pii),
    )
    services = Services(
        settings=settings,
        authenticator=Authenticator(settings.projects),
        factory=factory,
        ingest=ingest,
        metrics=metrics,
        http_log=structlog.get_logger("bridge.http").bind(),
    )
    # The body limit is enforced by the handler (JSON 413); aiohttp's own cap is a backstop.
    app = web.Application(
        middlewares=[middleware], client_max_size=settings.http.max_body_bytes + 1024
    )
    app[SERVICES] = services
    app.on_response_prepare.append(drop_server_header)
    router = app.router
    router.add_post("/webhooks/argos/{token}", handle_webhook, expect_handler=expect_continue)
    router.add_post("/webhooks/argos", handle_webhook, expect_handler=expect_continue)
    router.add_get("/livez", health.livez, expect_handler=expect_continue)
    router.add_get("/readyz", health.readyz, expect_handler=expect_continue)
    router.add_get("/metrics", health.metrics, expect_handler=expect_continue)
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    await services.ingest.start()
    settings = services.settings
    if settings.reconcile.enabled:
        reconciler = Reconciler(settings, services.ingest, services.factory, services.metrics)
        services.ingest.supervisor.spawn("reconciler", reconciler.run_forever)
    log.info(
        "bridge.started",
        projects=[p.name for p in services.settings.projects],
        topic=services.settings.topic,
        dlq_topic=services.settings.dlq_topic,
    )
    yield
    await services.ingest.stop()
    log.info("bridge.stopped")


def _server_ssl(settings: Settings) -> ssl.SSLContext | None:
    http = settings.http
    if http.tls_certfile is None or http.tls_keyfile is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(http.tls_certfile, http.tls_keyfile)
    return context


async def start_site(
    app: web.Application, settings: Settings, *, port: int | None = None
) -> tuple[web.AppRunner, EdgeSite]:
    """
    Start serving `app` with the inbound protections applied (`listener`).

    `port` overrides `BRIDGE_HTTP_PORT` (tests pass 0 for an ephemeral port).
    """
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=min(5.0, settings.shutdown_grace_s),  # handlers already drained
    )
    await runner.setup()
    site = EdgeSite(
        runner,
        settings.http,
        port=settings.http.port if port is None else port,
        ssl_context=_server_ssl(settings),
    )
    await site.start()
    return runner, site


async def serve(settings: Settings, *, publisher: Publisher | None = None) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully within the grace period."""
    app = create_app(settings, publisher=publisher)
    runner, _ = await start_site(app, settings)
    # Startup objects (schemas, tables, modules) live forever: keep them out of every
    # GC pass, and collect less often (request objects are short-lived and acyclic).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    log.info("http.listening", host=settings.http.host, port=settings.http.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    gate = app[SERVICES].ingest.gate
    log.info("bridge.shutting_down", in_flight=gate.in_flight)
    gate.close(settings.shutdown_grace_s)
    await gate.drained(settings.shutdown_grace_s / 2)
    await runner.cleanup()
