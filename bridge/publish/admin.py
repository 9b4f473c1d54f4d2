"""
Create the compacted topics the bridge owns (data keys, current state; see
`bridge.publish.base.COMPACTED`) when it can, and say exactly what to create when
it cannot (no Create ACL). aiokafka errors are translated at the producer's seam.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bridge.config import KafkaSettings
from bridge.errors import PublishError
from bridge.publish.backoff import throttle_metadata
from bridge.publish.base import TopicSpec
from bridge.publish.kafka import client_options, translate_kafka_errors

__all__ = ["ensure_topics"]

log = structlog.get_logger("bridge.kafka")

_ALREADY_EXISTS = 36


async def ensure_topics(settings: KafkaSettings, specs: Sequence[TopicSpec]) -> list[str]:
    """
    Create every missing topic of `specs` (replication: up to 3, what the cluster has);
    return the names created. Existing topics are left as they are.

    Raises:
        PublishError: the cluster is unreachable or refused (e.g. no Create ACL); the
            log line `kafka.create_topics_failed` names the command to run instead.
    """
    admin = AIOKafkaAdminClient(**client_options(settings))
    throttle_metadata(admin._client)
    created: list[str] = []
    try:
        with translate_kafka_errors():
            await admin.start()
            metadata = await admin.describe_cluster()
            brokers = max(1, len(metadata.get("brokers", [])))
            topics = [
                NewTopic(s.name, s.partitions, min(3, brokers), topic_configs=s.configs)
                for s in specs
            ]
            response = await admin.create_topics(topics)
        failed = []
        for name, code, *_ in response.topic_errors:
            if code == 0:
                created.append(str(name))
            elif code != _ALREADY_EXISTS:
                failed.append((str(name), int(code)))
        if failed:
            for name, code in failed:
                spec = next(s for s in specs if s.name == name)
                log.error(
                    "kafka.create_topics_failed",
                    topic=name,
                    error_code=code,
                    create_it_with=spec.command(),
                )
            raise PublishError(f"could not create {', '.join(n for n, _ in failed)}")
    finally:
        with translate_kafka_errors():
            await admin.close()
    if created:
        log.info("kafka.topics_created", topics=created)
    return created
