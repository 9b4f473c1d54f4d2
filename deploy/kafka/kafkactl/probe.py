"""
Is the broker serving? One Metadata request over a raw socket answers it without a client
library, and the answer names the cluster, so a foreign broker on our port is noticed.
"""

from __future__ import annotations

import socket
import struct

from kafkactl.layout import HOST, NODE_ID

__all__ = ["ProbeError", "probe_metadata"]

_METADATA = 3
_METADATA_VERSION = 4
_CLIENT_ID = b"kafkactl-probe"
_CORRELATION_ID = 0x6B63


class ProbeError(OSError):
    """Raised when the broker answers the Metadata probe with something unexpected."""


def probe_metadata(port: int, host: str = HOST, timeout: float = 3.0) -> str:
    """
    Send a Metadata v4 request (no topics) and return the cluster id.

    Succeeds only when the broker is serving requests and lists itself at `host:port`.
    Raises OSError otherwise (ConnectionRefusedError, TimeoutError, ProbeError).
    """
    # Request header v1 + body: topics=[] and allow_auto_topic_creation=false.
    header = struct.pack(">hhih", _METADATA, _METADATA_VERSION, _CORRELATION_ID, len(_CLIENT_ID))
    body = header + _CLIENT_ID + struct.pack(">ib", 0, 0)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        data = _recv_exact(sock, size)
    reader = _Reader(data)
    try:
        if reader.int32() != _CORRELATION_ID:
            raise ProbeError("Metadata response with a foreign correlation id")
        reader.int32()  # throttle_time_ms
        brokers = []
        for _ in range(reader.int32()):
            node_id = reader.int32()
            broker_host = reader.string()
            broker_port = reader.int32()
            reader.string()  # rack
            brokers.append((node_id, broker_host, broker_port))
        cluster_id = reader.string()
    except struct.error as exc:
        raise ProbeError(f"truncated Metadata response: {exc}") from exc
    if (NODE_ID, host, port) not in brokers:
        raise ProbeError(f"broker list {brokers} does not include {NODE_ID}@{host}:{port}")
    return cluster_id or ""


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise ProbeError("connection closed by the broker")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class _Reader:
    """Big-endian fields of a Kafka response, read front to back."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self._data, self._pos)
        self._pos += struct.calcsize(fmt)
        return int(value)

    def int32(self) -> int:
        return self._take(">i")

    def string(self) -> str | None:
        length = self._take(">h")
        if length < 0:
            return None
        text = self._data[self._pos : self._pos + length].decode()
        self._pos += length
        return text
