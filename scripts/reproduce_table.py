"""Reproduce the reference table's configurations and write table.md (see `--help`)."""

from singerid.reproduce_table import main

if __name__ == "__main__":
    raise SystemExit(main())
