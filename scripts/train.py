"""singerid train: train a singer classifier (Trainer; runs under accelerate launch) (see --help). Also `singerid train` and `python -m singerid train`."""

from singerid.commands.train import main

if __name__ == "__main__":
    raise SystemExit(main())
