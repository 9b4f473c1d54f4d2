"""
Personal data on Kafka: field-level encryption with a data key per subject, and
erasure by tombstoning the subject's key records (crypto-shredding).

    sealed      seal / open_sealed: the `protected` JWE (alg dir, enc A256GCM)
    keys        DataKey, new_data_key, key records of the compacted keys topic
    kek         the KeyEncryptionKey port
    jwks        JwksFileKek: KEKs from a JWK Set file (A256KW)
    kms         AwsKmsKek: the KEK stays in AWS KMS (import it from bridge.pii.kms;
                needs the `kms` extra)
    envelope    protect_envelope / reveal_envelope: the encrypt mode's record value
    inline      seal_inline / open_inline: a one-off DEK carried with the body
    paths       pii_tree from the `x-kyc-pii` schema marking; split / merge of data
    reader      Decryptor: key records in, clear events out
    follower    KeysTopicFollower: keeps a Decryptor up to date with the keys topic
    compact     JWE compact serialization on AES-GCM (internal building block)
    errors      the PiiError tree

May import: `bridge.config`, `bridge.errors`, `bridge.normalize`, `bridge.publish`
(the aiokafka metadata backoff), `bridge.types`.
"""

from __future__ import annotations

from bridge.pii.envelope import protect_envelope, reveal_envelope
from bridge.pii.errors import (
    EventMismatchError,
    KekConfigError,
    KekUnavailableError,
    KeyRecordError,
    KeyUnavailableError,
    PiiError,
    TamperedError,
)
from bridge.pii.follower import DEFAULT_KEYS_TOPIC, KeysTopicFollower
from bridge.pii.inline import InlineSealed, open_inline, seal_inline
from bridge.pii.jwks import JwksFileKek
from bridge.pii.kek import KeyEncryptionKey
from bridge.pii.keys import (
    ERASED_AT_HEADER,
    ERASURE_MARK,
    DataKey,
    KeyRecord,
    KeyTombstone,
    erasure_tombstones,
    key_record,
    key_record_key,
    new_data_key,
    parse_key_record,
    stamp,
    tombstone,
    tombstone_erased_at,
    tombstone_headers,
)
from bridge.pii.paths import PII_MARK, PiiTree, merge, pii_tree, split
from bridge.pii.reader import ERASED, Decryptor
from bridge.pii.sealed import EVENT_ID_HEADER, open_sealed, seal, sealed_kid

__all__ = [
    "DEFAULT_KEYS_TOPIC",
    "ERASED",
    "ERASED_AT_HEADER",
    "ERASURE_MARK",
    "EVENT_ID_HEADER",
    "PII_MARK",
    "DataKey",
    "Decryptor",
    "EventMismatchError",
    "InlineSealed",
    "JwksFileKek",
    "KekConfigError",
    "KekUnavailableError",
    "KeyEncryptionKey",
    "KeyRecord",
    "KeyRecordError",
    "KeyTombstone",
    "KeyUnavailableError",
    "KeysTopicFollower",
    "PiiError",
    "PiiTree",
    "TamperedError",
    "erasure_tombstones",
    "key_record",
    "key_record_key",
    "merge",
    "new_data_key",
    "open_inline",
    "open_sealed",
    "parse_key_record",
    "pii_tree",
    "protect_envelope",
    "reveal_envelope",
    "seal",
    "seal_inline",
    "sealed_kid",
    "split",
    "stamp",
    "tombstone",
    "tombstone_erased_at",
    "tombstone_headers",
]
