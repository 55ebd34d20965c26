"""Songs → DatasetDict of 5 s vocal segments split by album (see `--help`)."""

from singerid.preprocess import main

if __name__ == "__main__":
    raise SystemExit(main())
