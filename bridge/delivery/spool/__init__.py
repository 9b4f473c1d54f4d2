"""
The durable spool: records fsynced in acceptance order before they are
published, the dedup window of acknowledged ids, and the read-only status the
CLI shows. Only this package knows the table layout.
"""

from bridge.delivery.spool.appends import StateCheck
from bridge.delivery.spool.ops import Appended, Entry, Prerequisite, SpooledRecord
from bridge.delivery.spool.side import KeyRow, NewKey, SideWrite, StateRow
from bridge.delivery.spool.status import SpoolStatus, read_status
from bridge.delivery.spool.store import Spool, database_path

__all__ = [
    "Appended",
    "Entry",
    "KeyRow",
    "NewKey",
    "Prerequisite",
    "SideWrite",
    "Spool",
    "SpoolStatus",
    "SpooledRecord",
    "StateCheck",
    "StateRow",
    "database_path",
    "read_status",
]
