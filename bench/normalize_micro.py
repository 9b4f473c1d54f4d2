"""
Micro-benchmark of `EventFactory.build` and `normalize` on the ARGOS fixtures and
on realistic 1-3 KB `bridge.commands.simulate` payloads (µs per call, best of several runs).

    .venv/bin/python -m bench.normalize_micro [--simulated 2000] [--repeat 15]

`build-novalidate` swaps in a registry whose `validate` does nothing, to show
the CPU time the bridge itself spends around the (Rust) schema validation.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bridge.commands.simulate.payloads import webhooks
from bridge.events import EventFactory
from bridge.normalize import normalize
from bridge.schemas import SchemaRegistry, load_registry
from bridge.types import JSONObject

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "argos"
RECEIVED = datetime(2025, 6, 30, 12, 0, 0, 250_999, tzinfo=UTC)


class _NoValidation(SchemaRegistry):
    """The shipped schemas (the factory reads their personal-data marking), never validated."""

    def __init__(self) -> None:
        shipped = load_registry()
        super().__init__({name: shipped.schema(name) for name in shipped.names})

    def validate(self, name: str, instance: JSONObject) -> None:
        return None


def _fixtures() -> list[JSONObject]:
    return [orjson.loads(p.read_bytes())["payload"] for p in sorted(FIXTURES.glob("*.json"))]


def _simulated(count: int) -> list[JSONObject]:
    return [w.payload for w in itertools.islice(webhooks(7), count)]


def _per_call(
    work: Callable[[JSONObject], object], payloads: list[JSONObject], repeat: int
) -> float:
    """µs per call: best of `repeat` runs per chunk of 50 payloads, summed (robust to noise)."""
    total = 0.0
    for start in range(0, len(payloads), 50):
        chunk = payloads[start : start + 50]
        best = float("inf")
        for _ in range(repeat):
            begin = time.perf_counter()
            for payload in chunk:
                work(payload)
            best = min(best, time.perf_counter() - begin)
        total += best
    return total / len(payloads) * 1e6


def main(argv: list[str] | None = None) -> None:
    """Print µs per call for each corpus and operation."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--simulated", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    factories = {
        "build": EventFactory(load_registry()),
        "build-novalidate": EventFactory(_NoValidation()),
    }
    operations: dict[str, Callable[[JSONObject], object]] = {"normalize": normalize}
    for name, factory in factories.items():
        operations[name] = lambda p, f=factory: f.build(  # type: ignore[misc]
            p, project="acme", received_at=RECEIVED, encrypted=False
        )
    corpora = {"fixtures": _fixtures(), "simulated": _simulated(args.simulated)}
    print(f"{'corpus':<10} {'n':>5}  " + "  ".join(f"{op:>16}" for op in operations))
    for corpus, payloads in corpora.items():
        row = [_per_call(op, payloads, args.repeat) for op in operations.values()]
        print(f"{corpus:<10} {len(payloads):>5}  " + "  ".join(f"{us:>13.1f} µs" for us in row))


if __name__ == "__main__":
    main()
