"""
Realistic ARGOS ID Check webhook traffic for demos, tests and benchmarks.

- `webhooks(seed, encrypt_with=..., encrypted_share=...)`: an endless,
  seed-deterministic stream of 1-3 KB payloads for every trigger, following
  submission lifecycles (`bridge.commands.simulate.payloads`, fake people from
  `bridge.commands.simulate.fake`);
- `simulate(url, token, ...)`: send them to a bridge and report statuses and
  latency percentiles (`bridge.commands.simulate.sender`);
- `add_arguments` / `run`: the `kyc-bridge simulate` command.
"""

from bridge.commands.simulate.command import add_arguments, run, simulate
from bridge.commands.simulate.payloads import TRIGGERS, Webhook, encode, make_payload, webhooks
from bridge.commands.simulate.sender import SimulationReport, send

__all__ = [
    "TRIGGERS",
    "SimulationReport",
    "Webhook",
    "add_arguments",
    "encode",
    "make_payload",
    "run",
    "send",
    "simulate",
    "webhooks",
]
