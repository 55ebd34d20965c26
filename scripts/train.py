"""Train a singer classifier (see `--help`); runs under `accelerate launch` too."""

from singerid.train import main

if __name__ == "__main__":
    raise SystemExit(main())
