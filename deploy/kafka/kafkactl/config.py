"""
What a broker is (`BrokerConfig`, `ListenerPorts`) and its `server.properties` text.

The static part is `deploy/kafka/server.properties.template`; this module fills in the ports
and data dir and appends the security listeners (SASL users, PEM key material) and
`extra_overrides`, which have the last word on any key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Literal

from kafkactl.layout import CONFIG_TEMPLATE, HOST

__all__ = [
    "PORT_FIELDS",
    "SASL_MECHANISMS",
    "SCRAM_MECHANISMS",
    "BrokerConfig",
    "ClientAuth",
    "ListenerPorts",
    "render_properties",
]

ClientAuth = Literal["none", "requested", "required"]

SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
SASL_MECHANISMS = ("PLAIN", *SCRAM_MECHANISMS)
PORT_FIELDS = ("port", "controller_port", "sasl_port", "sasl_ssl_port", "ssl_port")

_USER_RE = re.compile(r"^[A-Za-z0-9._@-]+$")
# Safe inside a JAAS quoted string and inside StorageTool's --add-scram [k=v,...] syntax.
_PASSWORD_RE = re.compile(r'^[^\s"\\,\[\]=]+$')
_KEY_RE = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class BrokerConfig:
    """One single-node KRaft broker. A port of 0 means: pick a free one (kept per workdir)."""

    workdir: Path
    port: int = 0
    controller_port: int = 0
    heap_mb: int = 384
    sasl_port: int | None = None  # SASL_PLAINTEXT listener: PLAIN + SCRAM-SHA-256/512
    sasl_ssl_port: int | None = None  # SASL_SSL listener: same mechanisms, over TLS
    ssl_port: int | None = None  # SSL listener; client certs per ssl_client_auth
    ssl_client_auth: ClientAuth = "none"  # applies to the SSL listener only
    ssl_keystore_pem: Path | None = None  # cert chain + unencrypted PKCS#8 key, one file
    ssl_truststore_pem: Path | None = None  # CA certs that sign client certificates
    plain_users: dict[str, str] = field(default_factory=dict)
    scram_users: dict[str, str] = field(default_factory=dict)  # added at format time
    extra_overrides: dict[str, str] = field(default_factory=dict)  # last word on any key
    num_partitions: int = 1
    use_cds: bool = True  # AppCDS archive: about 2x faster JVM start (env KAFKACTL_NO_CDS=1)
    extra_jvm_args: tuple[str, ...] = ()

    def validate(self) -> None:
        """Raise ValueError for settings the broker would reject later, less clearly."""
        if self.heap_mb < 128:
            raise ValueError("heap_mb must be at least 128")
        if self.num_partitions < 1:
            raise ValueError("num_partitions must be at least 1")
        if self.ssl_client_auth not in ("none", "requested", "required"):
            raise ValueError(f"ssl_client_auth={self.ssl_client_auth!r}")
        uses_tls = self.ssl_port is not None or self.sasl_ssl_port is not None
        if uses_tls and self.ssl_keystore_pem is None:
            raise ValueError("ssl_port/sasl_ssl_port need ssl_keystore_pem")
        if self.ssl_client_auth != "none" and self.ssl_truststore_pem is None:
            raise ValueError("ssl_client_auth needs ssl_truststore_pem (the client CA)")
        for users in (self.plain_users, self.scram_users):
            for name, password in users.items():
                if not _USER_RE.match(name):
                    raise ValueError(f"user name {name!r}: use letters, digits and ._@-")
                if not _PASSWORD_RE.match(password):
                    raise ValueError(f'password of {name!r}: no whitespace or "\\,[]=')
        for key in self.extra_overrides:
            if not _KEY_RE.match(key):
                raise ValueError(f"bad property name {key!r}")


@dataclass(frozen=True)
class ListenerPorts:
    """The ports a broker listens on; None for a listener it does not have."""

    port: int
    controller_port: int
    sasl_port: int | None = None
    sasl_ssl_port: int | None = None
    ssl_port: int | None = None

    def as_dict(self) -> dict[str, int]:
        """Return the ports that are set, by field name (the content of `ports.json`)."""
        ports = {name: getattr(self, name) for name in PORT_FIELDS}
        return {name: port for name, port in ports.items() if port is not None}


def render_properties(config: BrokerConfig, ports: ListenerPorts, data_dir: Path) -> str:
    """Return the full server.properties text of a broker."""
    listeners = [f"PLAINTEXT://{HOST}:{ports.port}"]
    sasl_listeners: list[str] = []
    if ports.sasl_port is not None:
        listeners.append(f"SASL_PLAINTEXT://{HOST}:{ports.sasl_port}")
        sasl_listeners.append("sasl_plaintext")
    if ports.ssl_port is not None:
        listeners.append(f"SSL://{HOST}:{ports.ssl_port}")
    if ports.sasl_ssl_port is not None:
        listeners.append(f"SASL_SSL://{HOST}:{ports.sasl_ssl_port}")
        sasl_listeners.append("sasl_ssl")
    text = Template(CONFIG_TEMPLATE.read_text()).substitute(
        controller_port=ports.controller_port,
        listeners=",".join([*listeners, f"CONTROLLER://{HOST}:{ports.controller_port}"]),
        advertised_listeners=",".join(listeners),
        log_dir=_escape_property(str(data_dir)),
        num_partitions=config.num_partitions,
    )
    extra = {
        **_sasl_properties(config, sasl_listeners),
        **_ssl_properties(config, ports),
        **config.extra_overrides,
    }
    lines = [text.rstrip("\n"), "", "# ---- generated by kafkactl (security, overrides)"]
    lines += [f"{key}={_escape_property(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def _sasl_properties(config: BrokerConfig, listeners: list[str]) -> dict[str, str]:
    if not listeners:
        return {}
    extra = {"sasl.enabled.mechanisms": ",".join(SASL_MECHANISMS)}
    plain = "".join(f' user_{u}="{p}"' for u, p in sorted(config.plain_users.items()))
    for listener in listeners:
        prefix = f"listener.name.{listener}"
        extra[f"{prefix}.plain.sasl.jaas.config"] = (
            f"org.apache.kafka.common.security.plain.PlainLoginModule required{plain};"
        )
        for mechanism in SCRAM_MECHANISMS:
            extra[f"{prefix}.{mechanism.lower()}.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            )
    return extra


def _ssl_properties(config: BrokerConfig, ports: ListenerPorts) -> dict[str, str]:
    if config.ssl_keystore_pem is None or not (ports.ssl_port or ports.sasl_ssl_port):
        return {}
    extra = {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(config.ssl_keystore_pem.resolve()),
    }
    if config.ssl_truststore_pem is not None:
        extra["ssl.truststore.type"] = "PEM"
        extra["ssl.truststore.location"] = str(config.ssl_truststore_pem.resolve())
    if ports.ssl_port is not None:
        extra["listener.name.ssl.ssl.client.auth"] = config.ssl_client_auth
    if ports.sasl_ssl_port is not None:
        extra["listener.name.sasl_ssl.ssl.client.auth"] = "none"
    return extra


def _escape_property(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "\\" + escaped if escaped[:1] in (" ", "\t") else escaped
