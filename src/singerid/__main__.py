"""`python -m singerid <command> [options]` (also under `accelerate launch -m singerid ...`)."""

from .commands import main

raise SystemExit(main())
