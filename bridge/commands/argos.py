"""`kyc-bridge argos encrypt|decrypt`: build or open ARGOS encrypted bodies (stdin to stdout)."""

from __future__ import annotations

import sys

import orjson

from bridge import crypto
from bridge.errors import DecryptionError

__all__ = ["argos_crypt"]


def argos_crypt(action: str, api_key: str) -> int:
    """
    Encrypt stdin into an ARGOS `{"data": ...}` body, or decrypt one (or bare
    base64) to stdout; exit 1 when `api_key` does not open it.
    """
    data = sys.stdin.buffer.read()
    if action == "encrypt":
        sys.stdout.write(orjson.dumps({"data": crypto.encrypt(data.strip(), api_key)}).decode())
        sys.stdout.write("\n")
        return 0
    try:
        envelope = orjson.loads(data)
    except orjson.JSONDecodeError:
        ciphertext: object = data
    else:
        ciphertext = envelope.get("data") if isinstance(envelope, dict) else data
    if not isinstance(ciphertext, (str, bytes)):
        print('kyc-bridge: expected {"data": "<base64>"} or bare base64 on stdin', file=sys.stderr)
        return 2
    try:
        sys.stdout.buffer.write(crypto.decrypt(ciphertext, [api_key]) + b"\n")
    except DecryptionError as exc:
        print(f"kyc-bridge: {exc.message}", file=sys.stderr)
        return 1
    return 0
