"""singerid reproduce_table: the reference table's configurations on artist20 → table.md (see --help). Also `singerid reproduce_table` and `python -m singerid reproduce_table`."""

from singerid.commands.reproduce_table import main

if __name__ == "__main__":
    raise SystemExit(main())
