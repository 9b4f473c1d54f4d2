"""
`--profile`: py-spy on a saturated bridge, summarized as self and inclusive
sample shares, and a top-N self-time table written to
`bench/results/profile-<run>.txt` (Markdown, ready to paste into bench/README.md).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.procs import say
from bridge.types import JSONObject, JSONValue

__all__ = ["profile_path", "start_profiler", "summarize_profile", "write_profile_table"]


def profile_path(run: str) -> Path:
    """Return where py-spy's collapsed stacks go (outside the repo: they are large)."""
    return Path(tempfile.gettempdir()) / f"kyc-bridge-profile-{run}.txt"


def start_profiler(pid: int, duration: float, run: str) -> subprocess.Popen[bytes] | None:
    """Start py-spy (if installed) on `pid` for `duration` s; None when it is not installed."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        say("--profile: py-spy not installed (pip install py-spy); not profiling")
        return None
    out = profile_path(run)
    out.unlink(missing_ok=True)
    cmd = [py_spy, "record", "--pid", str(pid), "--duration", str(max(1, int(duration)))]
    # --gil: only the thread holding the GIL (what the event loop waits for). --nonblocking:
    # pausing the process to sample skews samples toward syscalls on this kind of VM.
    cmd += ["--rate", "100", "--gil", "--nonblocking", "--format", "raw", "-o", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frame_parts(frame: str) -> tuple[str, str]:
    """`func (path/file.py:123)` -> (`func (path/file.py)`, module group)."""
    name, _, where = frame.rpartition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    group = path if path.startswith("bridge/") else path.split("/", 1)[0]
    return f"{name} ({path})", group


def summarize_profile(path: Path, top: int = 25) -> JSONObject:
    """Return self and inclusive sample shares (%) from py-spy's collapsed (`raw`) stacks."""
    own: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame_parts(f) for f in stack.split(";")]
        own[frames[-1][0]] += count
        groups[frames[-1][1]] += count
        for function in {f for f, _ in frames}:
            inclusive[function] += count

    def share(counter: Counter[str], n: int) -> list[JSONValue]:
        return [[k, round(100 * v / total, 1)] for k, v in counter.most_common(n)] if total else []

    return {
        "samples": total,
        "self_pct": share(own, top),
        "self_by_module_pct": share(groups, 15),
        "inclusive_pct": share(inclusive, top),
    }


def _rows(entries: JSONValue) -> list[str]:
    if not isinstance(entries, list):
        return []
    return [
        f"| `{e[0]}` | {e[1]} |"
        for e in entries
        if isinstance(e, list) and len(e) == 2 and isinstance(e[1], int | float)
    ]


def write_profile_table(summary: JSONObject, target: Path, title: str) -> None:
    """Write `summary` as Markdown tables (self time, by module, inclusive) to `target`."""
    lines = [f"{title} ({summary.get('samples')} py-spy samples, --gil)", ""]
    for heading, key in (
        ("function (self)", "self_pct"),
        ("module (self)", "self_by_module_pct"),
        ("function (inclusive)", "inclusive_pct"),
    ):
        lines += [f"| {heading} | % |", "|---|---|", *_rows(summary.get(key)), ""]
    target.write_text("\n".join(lines))
