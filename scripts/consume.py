"""Print the records of a topic (key, partition, offset, headers, value): `make run` companion."""

from __future__ import annotations

import argparse
import asyncio

import orjson
from aiokafka import AIOKafkaConsumer


async def consume(bootstrap: str, topic: str, timeout_s: float) -> int:
    """Read `topic` from the beginning until it is idle for `timeout_s`; return the count."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    count = 0
    try:
        while batch := await consumer.getmany(timeout_ms=int(timeout_s * 1000)):
            for records in batch.values():
                for r in records:
                    count += 1
                    print(
                        orjson.dumps(
                            {
                                "partition": r.partition,
                                "offset": r.offset,
                                "key": r.key.decode() if r.key else None,
                                "headers": {k: v.decode() for k, v in r.headers},
                                "value": orjson.loads(r.value) if r.value else None,
                            },
                            option=orjson.OPT_INDENT_2,
                        ).decode()
                    )
    finally:
        await consumer.stop()
    return count


def main() -> None:
    """Parse arguments and consume."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="kyc.events.v1")
    parser.add_argument("--idle", type=float, default=3.0, help="stop after N idle seconds")
    args = parser.parse_args()
    count = asyncio.run(consume(args.bootstrap, args.topic, args.idle))
    print(f"{count} record(s)")


if __name__ == "__main__":
    main()
