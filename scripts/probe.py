"""singerid probe: a linear probe per hidden state of a backbone, on a dataset's splits (see --help). Also `singerid probe` and `python -m singerid probe`."""

from singerid.commands.probe import main

if __name__ == "__main__":
    raise SystemExit(main())
