"""The HTTP edge: aiohttp app, handlers and middleware (thin; logic lives in the core)."""

from bridge.ingress.app import create_app

__all__ = ["create_app"]
