"""
TCP ports on 127.0.0.1: free ones for new brokers, never handed out twice per process.
"""

from __future__ import annotations

import socket
import threading

from kafkactl.errors import KafkaCtlError
from kafkactl.layout import HOST

__all__ = ["pick_free_port", "port_is_free", "reserve_port"]

_handed_out: set[int] = set()
_lock = threading.Lock()


def pick_free_port() -> int:
    """
    Return a currently free TCP port on 127.0.0.1, never the same twice in this process.

    Raises KafkaCtlError when 100 attempts found none.
    """
    with _lock:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((HOST, 0))
                port = int(sock.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise KafkaCtlError("could not find a free TCP port on 127.0.0.1")


def reserve_port(port: int) -> None:
    """Record that `port` is in use, so `pick_free_port` never returns it."""
    with _lock:
        _handed_out.add(port)


def port_is_free(port: int) -> bool:
    """Return True if a server socket could bind 127.0.0.1:port now (SO_REUSEADDR, as the JVM)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True
