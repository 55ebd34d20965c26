"""singerid demo: run the main job end to end on the embedded demo corpus (see --help). Also `singerid demo` and `python -m singerid demo`."""

from singerid.commands.demo import main

if __name__ == "__main__":
    raise SystemExit(main())
