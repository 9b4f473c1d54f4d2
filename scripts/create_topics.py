"""Create the bridge's topics on a dev broker if they are missing (`make run` helper)."""

from __future__ import annotations

import argparse
import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def create(bootstrap: str, topics: dict[str, int]) -> list[str]:
    """Create each missing topic with its partition count; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(n, p, 1) for n, p in topics.items() if n not in existing]
        if missing:
            await admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        await admin.close()


def main() -> None:
    """Parse `NAME:PARTITIONS` arguments and create what is missing."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("topics", nargs="+", help="NAME:PARTITIONS")
    args = parser.parse_args()
    wanted = {name: int(count) for name, _, count in (t.partition(":") for t in args.topics)}
    created = asyncio.run(create(args.bootstrap, wanted))
    if created:
        print(f"created topics: {', '.join(created)}")


if __name__ == "__main__":
    main()
