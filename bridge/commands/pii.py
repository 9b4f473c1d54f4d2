"""
`kyc-bridge pii erase SUBJECT...`: crypto-shred subjects by hand. Every data key
of each subject (whichever replica created it) gets a tombstone on the keys
topic, and a `kyc.erased` event tells downstream services to delete their own
copies. Running bridges see the tombstones and never use those keys again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from bridge.config import Settings
from bridge.errors import ConfigError, PublishError
from bridge.events import EventFactory
from bridge.pii import Decryptor, KeysTopicFollower, erasure_tombstones, stamp
from bridge.pii.load import load_kek
from bridge.publish import Record
from bridge.publish.kafka import KafkaPublisher, client_options, translate_kafka_errors
from bridge.schemas import load_registry

__all__ = ["erase_subjects"]

_METADATA_WAIT_S = 10.0


async def erase_subjects(
    settings: Settings, subjects: Sequence[str], *, project: str | None = None
) -> dict[str, list[str]]:
    """
    Tombstone every data key of each subject and publish its `kyc.erased` event;
    return subject -> the kids erased. The event goes to the topic of `project`
    (default: the first project).

    Raises:
        ConfigError: no key-encryption key, or an unknown project.
        PublishError: Kafka did not take the records.
    """
    kek = load_kek(settings.pii)
    if kek is None:
        raise ConfigError("BRIDGE_PII_KEK_FILE: erasing needs the key-encryption key")
    chosen = next((p for p in settings.projects if p.name == project), None)
    if project is not None and chosen is None:
        raise ConfigError(f"--project: no project named {project!r}")
    target = chosen or settings.projects[0]
    options = client_options(settings.kafka)
    keys = KeysTopicFollower(
        Decryptor(kek),
        bootstrap_servers=settings.kafka.bootstrap_servers,
        topic=settings.pii.keys_topic,
        consumer_options={k: v for k, v in options.items() if k != "bootstrap_servers"},
    )
    factory = EventFactory(load_registry())
    publisher = KafkaPublisher(settings.kafka)
    erased: dict[str, list[str]] = {}
    try:
        with translate_kafka_errors():
            async with keys:
                for subject in subjects:
                    kids = list(keys.decryptor.kids(subject))
                    erased_at = datetime.now(UTC)
                    for record in erasure_tombstones(subject, kids, stamp(erased_at)):
                        await _publish(publisher, settings.pii.keys_topic, record)
                    event = factory.erased(
                        subject=subject,
                        project=target.name,
                        reason="operator",
                        erased_at=erased_at,
                        key_ids=kids,
                    )
                    await _publish(publisher, settings.topic_for(target), event.record)
                    erased[subject] = kids
    except TimeoutError:
        raise PublishError(
            f"the keys topic {settings.pii.keys_topic!r} could not be read to its end within "
            f"60 s (missing, or Kafka unreachable); {len(erased)} of {len(subjects)} subjects "
            "were erased"
        ) from None
    finally:
        await publisher.stop()
    return erased


async def _publish(publisher: KafkaPublisher, topic: str, record: Record) -> None:
    partition = await publisher.partition_for(topic, record.key, wait_s=_METADATA_WAIT_S)
    await publisher.publish(topic, partition, [record])


def run(settings: Settings, subjects: Sequence[str], project: str | None) -> dict[str, list[str]]:
    """Synchronous entry point for the CLI."""
    return asyncio.run(erase_subjects(settings, subjects, project=project))
