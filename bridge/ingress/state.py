"""The services an app holds, under one typed `web.AppKey`."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from structlog.typing import FilteringBoundLogger

from bridge.auth import Authenticator
from bridge.config import Settings
from bridge.delivery.ingest import Ingest
from bridge.events import EventFactory
from bridge.metrics import Metrics

__all__ = ["SERVICES", "Services"]


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a handler needs; built once in `create_app`."""

    settings: Settings
    authenticator: Authenticator
    factory: EventFactory
    ingest: Ingest
    metrics: Metrics
    #: the canonical `webhook.handled` line's logger, bound once (a lazy proxy binds per call)
    http_log: FilteringBoundLogger


SERVICES = web.AppKey("services", Services)
