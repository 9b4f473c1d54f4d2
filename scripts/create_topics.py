"""
Create Kafka topics that are missing; existing ones are left as they are.

    python scripts/create_topics.py [--bootstrap HOST:PORT] [--replication-factor N] SPEC...

SPEC is `NAME[:PARTITIONS[:KEY=VALUE,...]]` (1 partition if omitted; a value may hold
commas: `cleanup.policy=compact,delete`). `make run` creates the bridge's topics on the dev
broker with it:

    kyc.events.v1:3  kyc.events.dlq.v1:1

and the compacted topics of upcoming features would be, for example:

    kyc.pii-keys.v1:3:cleanup.policy=compact  kyc.state.v1:3:cleanup.policy=compact

Exit codes: 0 every topic exists now, 1 the cluster refused one, 2 a bad argument.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

__all__ = ["TopicCreationError", "TopicResult", "TopicSpec", "create_topics", "main", "parse_spec"]

_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")  # Kafka's legal topic names
_KEY_RE = re.compile(r"^[a-z0-9]+(\.[a-z0-9]+)*$")  # topic config keys: dotted lower case
_TOPIC_ALREADY_EXISTS = 36


class TopicCreationError(Exception):
    """Raised when the cluster refuses to create a topic (policy, authorization, ...)."""


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create: name, partition count and topic-level configs."""

    name: str
    partitions: int = 1
    configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicResult:
    """What happened to one topic; `partitions` is what the cluster has now."""

    name: str
    outcome: Literal["created", "exists"]
    partitions: int


def parse_spec(text: str) -> TopicSpec:
    """
    Parse `NAME[:PARTITIONS[:KEY=VALUE,...]]` (see the module docstring).

    Raises ValueError naming what is wrong.
    """
    name, _, rest = text.partition(":")
    count, _, configs_text = rest.partition(":")
    if not _NAME_RE.match(name) or name in (".", ".."):
        raise ValueError(f"{text!r}: bad topic name {name!r}")
    if not count:
        partitions = 1
    elif re.fullmatch(r"[0-9]+", count) and int(count) >= 1:
        partitions = int(count)
    else:
        raise ValueError(f"{text!r}: partitions must be a whole number >= 1, not {count!r}")
    configs: dict[str, str] = {}
    key = ""
    for item in configs_text.split(",") if configs_text else []:
        if "=" not in item and key:  # a value with a comma: cleanup.policy=compact,delete
            configs[key] += "," + item
            continue
        key, _, value = item.partition("=")
        if not _KEY_RE.match(key) or not value:
            raise ValueError(f"{text!r}: config {item!r} is not KEY=VALUE")
        configs[key] = value
    if any("" in value.split(",") for value in configs.values()):
        raise ValueError(f"{text!r}: a config value has an empty item")
    return TopicSpec(name, partitions, configs)


async def create_topics(
    bootstrap: str, specs: Sequence[TopicSpec], *, replication_factor: int = 1
) -> list[TopicResult]:
    """
    Create each topic of `specs` that does not exist; report every one.

    Raises KafkaError when the cluster cannot be reached, TopicCreationError when it refuses
    a topic.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            new = [
                NewTopic(s.name, s.partitions, replication_factor, topic_configs=dict(s.configs))
                for s in missing
            ]
            response = await admin.create_topics(new)
            for name, code, *message in response.topic_errors:
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    detail = f" ({message[0]})" if message and message[0] else ""
                    raise TopicCreationError(f"{name}: Kafka error code {code}{detail}")
        names = [spec.name for spec in specs if spec.name in existing]
        found = await admin.describe_topics(names) if names else []
    finally:
        await admin.close()
    partitions = {topic["topic"]: len(topic["partitions"]) for topic in found}
    return [
        TopicResult(spec.name, "exists", partitions.get(spec.name, 0))
        if spec.name in existing
        else TopicResult(spec.name, "created", spec.partitions)
        for spec in specs
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, create what is missing, print one line per topic."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").strip().splitlines()[0],
        epilog="example: kyc.events.v1:3 kyc.state.v1:3:cleanup.policy=compact",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="HOST:PORT,...")
    parser.add_argument("--replication-factor", type=int, default=1, help="for the topics created")
    parser.add_argument(
        "specs", nargs="+", metavar="SPEC", type=_spec, help="NAME[:PARTITIONS[:KEY=VALUE,...]]"
    )
    args = parser.parse_args(argv)
    specs: list[TopicSpec] = args.specs
    try:
        results = asyncio.run(
            create_topics(args.bootstrap, specs, replication_factor=args.replication_factor)
        )
    except (KafkaError, TopicCreationError) as exc:
        print(f"create_topics: {exc}", file=sys.stderr)
        return 1
    for spec, result in zip(specs, results, strict=True):
        note = ""
        if result.partitions != spec.partitions:
            note = f" (asked for {spec.partitions}; partitions are never changed here)"
        plural = "" if result.partitions == 1 else "s"
        print(f"{result.outcome}: {result.name} ({result.partitions} partition{plural}){note}")
    return 0


def _spec(text: str) -> TopicSpec:
    try:
        return parse_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
