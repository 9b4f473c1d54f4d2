#!/usr/bin/env python3
"""
Run a real single-node Apache Kafka 4.x broker (KRaft) from Maven Central jars, no Docker.

    python deploy/kafka/kafkactl.py fetch [--force]
    python deploy/kafka/kafkactl.py up [--workdir DIR] [--port N]   # prints the bootstrap address
    python deploy/kafka/kafkactl.py down [--workdir DIR]
    python deploy/kafka/kafkactl.py status [--workdir DIR]

This file is only the entry point: the code is the `kafkactl/` package next to it, which
Python imports in preference to this file (a package wins over a module of the same name).
"""

from __future__ import annotations

import sys

from kafkactl.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
