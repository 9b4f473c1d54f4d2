"""
An independent JOSE library (jwcrypto, not the bridge's) decrypts an event read from
Kafka using only the JWK Set file and the keys topic: the recipe in the README.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from jwcrypto import jwe, jwk

from bridge.pii.envelope import protect_envelope
from bridge.pii.jwks import JwksFileKek
from bridge.pii.keys import key_record, new_data_key
from bridge.pii.paths import merge, pii_tree
from bridge.types import JSONObject
from tests.pii.conftest import jwk as make_jwk
from tests.pii.conftest import write_jwks
from tests.pii.corpus import DOCUMENTS, EXAMPLES
from tests.support.bridge_proc import read_topic
from tests.support.broker import Broker

pytestmark = pytest.mark.kafka


def decrypt_with_jwcrypto(event: JSONObject, key_values: list[bytes], jwks_text: str) -> JSONObject:
    """Decrypt `event` the way a consumer in another language would, with jwcrypto only."""
    protected = str(event["protected"])
    header = json.loads(jwk.base64url_decode(protected.split(".", maxsplit=1)[0]))
    assert ("dir", "A256GCM") == (header["alg"], header["enc"])
    records = [json.loads(v) for v in key_values]
    (record,) = [r for r in records if r["kid"] == header["kid"]]
    wrapped = jwe.JWE()
    wrapped.deserialize(record["wrapped_key"], key=jwk.JWKSet.from_json(jwks_text))
    sealed = jwe.JWE()
    sealed.deserialize(protected, key=jwk.JWK.from_json(wrapped.payload))
    assert event["event_id"] == header["kyc_event_id"]  # the record binding every reader checks
    inner = json.loads(sealed.payload)
    clear = {k: v for k, v in event.items() if k not in ("protected", "pii")}
    data = clear["data"]
    assert isinstance(data, dict)
    restored = {**clear, "data": merge(data, inner["data"])}
    return restored | ({"raw": inner["raw"]} if "raw" in inner else {})


async def test_jwcrypto_decrypts_records_from_kafka(kafka: Broker, tmp_path: Path) -> None:
    """Every example, published protected, decrypts with jwcrypto to the clear event."""
    jwks_path = write_jwks(tmp_path / "kek.jwks", make_jwk("kek-2", 2), make_jwk("kek-1", 1))
    kek = JwksFileKek.from_file(jwks_path)
    suffix = uuid.uuid4().hex[:8]
    keys_topic, events_topic = f"pii-keys-{suffix}", f"events-{suffix}"
    await kafka.acreate_topic(keys_topic, configs={"cleanup.policy": "compact"})
    await kafka.acreate_topic(events_topic)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    await producer.start()
    try:
        for schema_id, envelope in EXAMPLES:
            dek = new_data_key(str(envelope.get("subject", envelope["event_id"])))
            key, value = key_record(dek, await kek.wrap(dek), created_at=datetime.now(UTC))
            await producer.send_and_wait(keys_topic, value, key=key)
            protected = protect_envelope(envelope, pii_tree(DOCUMENTS, schema_id), dek)
            await producer.send_and_wait(events_topic, json.dumps(protected).encode())
    finally:
        await producer.stop()
    keys = await read_topic(kafka.bootstrap, keys_topic, min_count=len(EXAMPLES))
    events = await read_topic(kafka.bootstrap, events_topic, min_count=len(EXAMPLES))
    key_values = [r.value for r in keys if r.value is not None]
    decrypted = [
        decrypt_with_jwcrypto(json.loads(r.value or b""), key_values, jwks_path.read_text())
        for r in sorted(events, key=lambda r: r.offset)
    ]
    assert [envelope for _, envelope in EXAMPLES] == decrypted
