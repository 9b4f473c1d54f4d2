"""
The command line behind `make kafka-up` / `make kafka-down` (see `kafkactl.py --help`).

The dev broker lives in `.cache/kafka/dev` on port 9092 unless `--workdir` / `--port` or the
environment (`KAFKACTL_DEV_WORKDIR`, `KAFKACTL_DEV_PORT`) say otherwise. Exit codes: 0 ok,
1 failure with a one-line message on stderr (`status`: not running or not answering).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kafkactl.broker import Broker
from kafkactl.config import BrokerConfig
from kafkactl.errors import KafkaCtlError
from kafkactl.jars import fetch, libs_up_to_date
from kafkactl.layout import DEFAULT_LIBDIR, DEV_PORT, DEV_WORKDIR, HOST
from kafkactl.ports import port_is_free
from kafkactl.probe import probe_metadata

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code (errors are printed, never raised)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors: exit 1 like every other failure (--help: 0)
        return 0 if exc.code in (0, None) else 1
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KafkaCtlError as exc:
        _say(f"error: {exc.summary}")
        if exc.detail:
            print("\n".join(f"  | {line}" for line in exc.detail.splitlines()), file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        _say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of `fetch`, `up`, `down` and `status`."""
    parser = argparse.ArgumentParser(
        prog="kafkactl.py",
        description="Local Apache Kafka 4.x broker (KRaft) from Maven jars.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    workdir = Path(os.environ.get("KAFKACTL_DEV_WORKDIR") or DEV_WORKDIR)
    port = os.environ.get("KAFKACTL_DEV_PORT") or str(DEV_PORT)  # argparse applies type=int

    def command(
        name: str, help_text: str, handler: Callable[[argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        cmd = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        cmd.set_defaults(handler=handler)
        if name != "fetch":
            cmd.add_argument("--workdir", type=Path, default=workdir, help="broker state dir")
        return cmd

    p_fetch = command("fetch", "resolve the broker jars via deploy/kafka/pom.xml", _cmd_fetch)
    p_fetch.add_argument("--force", action="store_true", help="ignore the up-to-date stamp")
    p_up = command("up", "start the detached dev broker; print its bootstrap address", _cmd_up)
    p_up.add_argument("--port", type=int, default=port, help="PLAINTEXT port")
    p_up.add_argument("--heap-mb", type=int, default=384, help="JVM heap")
    p_up.add_argument("--timeout", type=float, default=90.0, help="seconds to get ready")
    p_down = command("down", "stop the dev broker (SIGTERM, then SIGKILL)", _cmd_down)
    p_down.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL")
    command("status", "exit 0 if the dev broker answers, else 1", _cmd_status)
    return parser


def _say(message: str) -> None:
    print(f"kafkactl: {message}", file=sys.stderr, flush=True)


def _fetch(*, force: bool = False) -> Path:
    """`fetch()`, saying first when Maven is about to run (it takes a while the first time)."""
    if force or not libs_up_to_date(DEFAULT_LIBDIR):
        _say(f"resolving the Kafka broker jars with Maven into {DEFAULT_LIBDIR} (about a minute)")
    return fetch(force=force)


def _cmd_fetch(args: argparse.Namespace) -> int:
    started = time.monotonic()
    fresh = libs_up_to_date(DEFAULT_LIBDIR) and not args.force
    libdir = _fetch(force=args.force)
    jars = list(libdir.glob("*.jar"))
    size_mb = sum(jar.stat().st_size for jar in jars) / 1e6
    verb = "up to date" if fresh else f"resolved in {time.monotonic() - started:.1f}s"
    _say(f"{len(jars)} jars ({size_mb:.0f} MB) in {libdir}: {verb}")
    return 0


def _dev_broker(workdir: Path, port: int = 0, heap_mb: int = 384) -> Broker:
    return Broker(BrokerConfig(workdir=workdir, port=port, heap_mb=heap_mb))


def _cmd_up(args: argparse.Namespace) -> int:
    existing = _dev_broker(args.workdir)
    if existing.is_running():
        existing.wait_ready(args.timeout)
        _say(f"already running (pid {existing.pid}, workdir {existing.workdir})")
        print(existing.bootstrap)
        return 0
    if not port_is_free(args.port):
        raise KafkaCtlError(f"port {args.port} on {HOST} is in use; pick another with --port")
    _fetch()
    broker = _dev_broker(args.workdir, args.port, args.heap_mb)
    broker.detached = True
    broker.start(timeout=args.timeout)
    _say(
        f"broker up in {broker.last_start_seconds or 0:.1f}s (pid {broker.pid}, "
        f"log {broker.log_path}); stop with `kafkactl.py down`"
    )
    print(broker.bootstrap)
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    broker = _dev_broker(args.workdir)
    pid = broker.pid
    if pid is None:
        _say(f"not running (workdir {broker.workdir})")
        return 0
    broker.stop(args.timeout)
    _say(f"stopped pid {pid}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    broker = _dev_broker(args.workdir)
    pid = broker.pid
    if pid is None:
        _say(f"not running (workdir {broker.workdir})")
        return 1
    try:
        cluster_id = probe_metadata(broker.port)
    except OSError as exc:
        _say(f"pid {pid} is running but {broker.bootstrap} does not answer: {exc}")
        return 1
    if cluster_id != broker.cluster_id:
        _say(f"pid {pid} is running but {broker.bootstrap} serves cluster {cluster_id}")
        return 1
    _say(f"running: pid {pid}, cluster {cluster_id}, log {broker.log_path}")
    print(broker.bootstrap)
    return 0
