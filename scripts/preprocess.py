"""singerid preprocess: songs → DatasetDict of vocal segments, split by album (see --help). Also `singerid preprocess` and `python -m singerid preprocess`."""

from singerid.commands.preprocess import main

if __name__ == "__main__":
    raise SystemExit(main())
