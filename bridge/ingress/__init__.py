"""
The HTTP edge: the aiohttp app, its handlers and middleware. Thin: handlers
authenticate, read the body and hand it to the pure core (`decode`,
`events`) and the delivery core (`delivery.ingest`); errors become HTTP
responses in one place (`middleware`).

May import anything below it (`auth`, `decode`, `events`, `delivery`,
`publish`, `metrics`, `config`, `errors`); never `bridge.commands`.
"""

from bridge.ingress.app import create_app

__all__ = ["create_app"]
