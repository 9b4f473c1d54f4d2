"""Kafka ACLs for tests on a broker with the StandardAuthorizer."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest, DescribeAclsRequest

from tests.support.broker import Broker

# Kafka's ACL codes (org.apache.kafka.common.acl / resource).
_RESOURCES = {"topic": 2, "group": 3}
_OPERATIONS = {"Read": 3, "Write": 4, "Describe": 8}
_LITERAL, _ALLOW, _ANY_HOST = 3, 3, "*"


async def allow(
    broker: Broker,
    principal: str,
    operation: str,
    resource: str,
    name: str,
) -> None:
    """Add one literal ALLOW ACL (operation Read/Write/Describe on a topic or group).

    Waits until the broker's authorizer has it.
    """
    acl = (_RESOURCES[resource], name, _LITERAL, principal, _ANY_HOST,
           _OPERATIONS[operation], _ALLOW)  # fmt: skip
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:  # aiokafka has no public call for ACLs; its protocol classes have them
        created = await admin._send_request(CreateAclsRequest(*acl))
        assert [0] == [result[0] for result in created.creation_responses]
        async with asyncio.timeout(10):
            while not (await admin._send_request(DescribeAclsRequest(*acl))).resources:
                await asyncio.sleep(0.05)
    finally:
        await admin.close()
