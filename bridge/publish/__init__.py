"""
The publishing port: the `Publisher` protocol and the values it moves
(`Record`, `Delivery`), with two adapters: `kafka` (aiokafka; the only module
that imports it, and the one seam that translates its errors) and `memory`
(tests, demos). One contract suite runs against both.

May import: `bridge.config`, `bridge.errors`.
"""

from bridge.publish.base import (
    COMPACTED,
    Delivery,
    Publisher,
    ReadRecord,
    Record,
    TopicReader,
    TopicSpec,
)

__all__ = ["COMPACTED", "Delivery", "Publisher", "ReadRecord", "Record", "TopicReader", "TopicSpec"]
