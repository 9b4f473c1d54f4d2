"""
Settings: one frozen object built once at startup from the environment (plus
an optional TOML file of projects) and passed explicitly. Nothing else in the
bridge reads `os.environ`: the command line hands the environment to
`load_settings` (and `read_secret` for the tools' own secrets).

May import: `bridge.errors` only.
"""

from bridge.config.load import load_settings, read_secret
from bridge.config.settings import (
    DEFAULT_API_URL,
    DEFAULT_PROJECT,
    HttpSettings,
    KafkaSettings,
    LogLevel,
    Network,
    PiiMode,
    PiiSettings,
    ProjectSettings,
    ReconcileSettings,
    SaslMechanism,
    Secret,
    SecurityProtocol,
    Settings,
    SpoolSettings,
)

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_PROJECT",
    "HttpSettings",
    "KafkaSettings",
    "LogLevel",
    "Network",
    "PiiMode",
    "PiiSettings",
    "ProjectSettings",
    "ReconcileSettings",
    "SaslMechanism",
    "Secret",
    "SecurityProtocol",
    "Settings",
    "SpoolSettings",
    "load_settings",
    "read_secret",
]
