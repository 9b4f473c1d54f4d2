"""
A broker's work directory: its files, what they say, and its log.

Layout: `server.properties`, `data/` (log.dirs, with `meta.properties` once formatted),
`tmp/` (java.io.tmpdir), `broker.log`, `broker.pid`, `ports.json`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from kafkactl.config import PORT_FIELDS
from kafkactl.layout import LOG_TAIL_LINES

__all__ = ["BrokerDir"]

_STACK_FRAME_RE = re.compile(r"^\s+(at |\.\.\. \d+ more)")


@dataclass(frozen=True)
class BrokerDir:
    """The work directory of one broker (an absolute path)."""

    path: Path

    @property
    def data_dir(self) -> Path:
        return self.path / "data"

    @property
    def tmp_dir(self) -> Path:
        return self.path / "tmp"

    @property
    def log_path(self) -> Path:
        return self.path / "broker.log"

    @property
    def properties_path(self) -> Path:
        return self.path / "server.properties"

    @property
    def pid_path(self) -> Path:
        return self.path / "broker.pid"

    @property
    def ports_path(self) -> Path:
        return self.path / "ports.json"

    @property
    def is_formatted(self) -> bool:
        return (self.data_dir / "meta.properties").is_file()

    @property
    def cluster_id(self) -> str | None:
        """Return `cluster.id` from the data dir's meta.properties (None before format)."""
        try:
            text = (self.data_dir / "meta.properties").read_text()
        except OSError:
            return None
        match = re.search(r"^cluster\.id=(\S+)", text, re.MULTILINE)
        return match.group(1) if match else None

    def create(self, properties: str, ports: dict[str, int]) -> None:
        """Create the directories and write `server.properties` and `ports.json`."""
        for path in (self.path, self.data_dir, self.tmp_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.ports_path.write_text(json.dumps(ports, indent=2) + "\n")
        self.properties_path.write_text(properties)

    def saved_ports(self) -> dict[str, int]:
        """Return the ports of an earlier run from `ports.json` ({} if there is none)."""
        try:
            raw = json.loads(self.ports_path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(raw, dict):
            return {}
        return {k: v for k, v in raw.items() if k in PORT_FIELDS and isinstance(v, int) and v}

    def append_log(self, text: str) -> None:
        """Append one line (kafkactl's own, e.g. a start marker) to broker.log."""
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(text if text.endswith("\n") else text + "\n")

    def log_size(self) -> int:
        """Return the current size of broker.log (0 if it does not exist)."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_tail(self, offset: int = 0, lines: int = LOG_TAIL_LINES) -> str:
        """
        Return the last `lines` lines of broker.log written after byte `offset`, without Java
        stack frames, so the `Caused by:` chain fits.
        """
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                data = log.read()
        except OSError:
            return ""
        text = data.decode(errors="replace")
        kept = [line for line in text.splitlines() if not _STACK_FRAME_RE.match(line)]
        return "\n".join(kept[-lines:])
