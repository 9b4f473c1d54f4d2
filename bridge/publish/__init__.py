"""The publishing port: a `Publisher` protocol and the record types it moves."""

from bridge.publish.base import Delivery, Publisher, Record

__all__ = ["Delivery", "Publisher", "Record"]
