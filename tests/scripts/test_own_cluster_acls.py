"""
The ACLs the README asks for on your own cluster are enough, checked on a broker with
Kafka's StandardAuthorizer: Write on both topics (it implies Describe) lets the bridge's
idempotent acks=all producer write, with no cluster-level ACL (Kafka >= 2.8, KIP-679);
Read on the DLQ lets `kyc-bridge dlq replay` read it.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.errors import ClusterAuthorizationFailedError, KafkaError

from tests.kafka.clients import consume, produce
from tests.support.acls import allow
from tests.support.broker import Broker, BrokerPool

pytestmark = pytest.mark.kafka

TOPIC, DLQ = "kyc.events.v1", "kyc.events.dlq.v1"
USERS = {"kyc-bridge": "bridge-secret", "onlooker": "onlooker-secret"}


@pytest.fixture(scope="module", name="acl_broker")
def _acl_broker(brokers: BrokerPool) -> Broker:
    """A broker that denies what no ACL allows; PLAINTEXT (ANONYMOUS) is the super user."""
    broker = brokers.start(
        "acl",
        sasl_port=0,
        plain_users=USERS,
        extra_overrides={
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": "User:ANONYMOUS",
            "auto.create.topics.enable": "false",
        },
    )
    broker.create_topic(TOPIC, 3)
    broker.create_topic(DLQ, 1)
    return broker


def _as(broker: Broker, user: str) -> dict[str, Any]:
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": user,
        "sasl_plain_password": USERS[user],
        "request_timeout_ms": 10000,
    }


async def test_write_on_the_topics_is_all_the_producer_needs(acl_broker: Broker) -> None:
    """With Write on both topics and nothing on the cluster, idempotent writes succeed."""
    for topic in (TOPIC, DLQ):
        await allow(acl_broker, "User:kyc-bridge", "Write", "topic", topic)
    await allow(acl_broker, "User:kyc-bridge", "Read", "topic", DLQ)
    options = _as(acl_broker, "kyc-bridge")

    await produce(acl_broker.sasl_bootstrap, TOPIC, [b"event"], **options)
    await produce(acl_broker.sasl_bootstrap, DLQ, [b"dead-letter"], **options)
    assert [b"dead-letter"] == await consume(acl_broker.sasl_bootstrap, DLQ, 1, **options)


async def test_describe_alone_is_not_enough(acl_broker: Broker) -> None:
    """Describe without Write is refused: the authorizer is really on in this test."""
    await allow(acl_broker, "User:onlooker", "Describe", "topic", TOPIC)
    with pytest.raises(KafkaError) as caught:
        await produce(acl_broker.sasl_bootstrap, TOPIC, [b"x"], **_as(acl_broker, "onlooker"))
    assert isinstance(caught.value, ClusterAuthorizationFailedError)
