"""
Two minimal servers that bound what the bridge could reach on this machine:

    python -m bench.ceilings bare --port P
    python -m bench.ceilings passthrough --port P --bootstrap B --topic T

- `bare`: aiohttp reads the body and answers 200 (the HTTP ceiling);
- `passthrough`: aiohttp reads the body and awaits
  `producer.send_and_wait(topic, body, key=...)` on an aiokafka producer with
  acks=all and idempotence, then answers 200 (the HTTP + Kafka ceiling; no
  auth, decryption, normalization, validation, spool or logging).

Both serve any POST path, `GET /livez` once ready, and stop on SIGTERM. Both
use uvloop when installed, as the bridge does.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from aiokafka import AIOKafkaProducer

__all__ = ["main"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _livez(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _bare(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=b'{"stored":"nowhere"}', content_type="application/json")


def _passthrough(producer: AIOKafkaProducer, topic: str) -> Handler:
    counter = itertools.count()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        metadata = await producer.send_and_wait(topic, body, key=b"%d" % next(counter))
        answer = {"stored": "kafka", "partition": metadata.partition, "offset": metadata.offset}
        return web.Response(body=orjson.dumps(answer), content_type="application/json")

    return handle


async def _serve(args: argparse.Namespace) -> None:
    producer: AIOKafkaProducer | None = None
    app = web.Application()
    if args.kind == "passthrough":
        producer = AIOKafkaProducer(
            bootstrap_servers=args.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,  # the bridge's default BRIDGE_KAFKA_LINGER_MS
        )
        await producer.start()
        app.router.add_post("/{tail:.*}", _passthrough(producer, args.topic))
    else:
        app.router.add_post("/{tail:.*}", _bare)
    app.router.add_get("/livez", _livez)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=75)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    if producer is not None:
        await producer.stop()


def main(argv: list[str] | None = None) -> int:
    """Serve one ceiling app until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m bench.ceilings", description=__doc__)
    parser.add_argument("kind", choices=("bare", "passthrough"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="kyc.bench.passthrough")
    args = parser.parse_args(argv)
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        asyncio.run(_serve(args))
    else:
        uvloop.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
