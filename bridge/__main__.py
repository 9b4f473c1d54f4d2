"""`python -m bridge` is the same as the `kyc-bridge` console script."""

from bridge.commands.cli import main

raise SystemExit(main())
