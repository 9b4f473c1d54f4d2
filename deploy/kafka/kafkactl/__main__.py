"""
`python -m kafkactl` (with deploy/kafka on the path): the same as `kafkactl.py`.
"""

from __future__ import annotations

import sys

from kafkactl.cli import main

__all__: list[str] = []

sys.exit(main())
