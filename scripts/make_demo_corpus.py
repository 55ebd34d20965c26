"""singerid make_demo_corpus: synthesise the demo corpus (artist20 layout) (see --help). Also `singerid make_demo_corpus` and `python -m singerid make_demo_corpus`."""

from singerid.commands.make_demo_corpus import main

if __name__ == "__main__":
    raise SystemExit(main())
