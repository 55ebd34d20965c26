"""Evaluate a saved singer classifier on a dataset split (see `--help`)."""

from singerid.evaluate_model import main

if __name__ == "__main__":
    raise SystemExit(main())
