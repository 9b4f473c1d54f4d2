"""Keyed records land where the Java client would put them (replicas and other producers agree)."""

from __future__ import annotations

import pytest

from bridge.config import KafkaSettings
from bridge.publish.kafka import KafkaPublisher, _pick

# org.apache.kafka.common.utils.UtilsTest#testMurmur2: the Java client's hashes.
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("key", "java"), sorted(JAVA_MURMUR2.items()))
@pytest.mark.parametrize("count", [1, 3, 6, 12])
def test_partition_of_a_key_is_the_java_clients(key: bytes, java: int, count: int) -> None:
    """Partition = (murmur2(key) & 0x7fffffff) % partition count, as in the Java client."""
    publisher = KafkaPublisher(KafkaSettings(bootstrap_servers="127.0.0.1:9"))
    ordered = list(range(count))
    expected = (java & 0x7FFFFFFF) % count
    assert expected == _pick(ordered, publisher._hash(key))
    assert expected == _pick(ordered, publisher._hash(key))  # the memoized hash agrees
