"""Write the synthetic demo corpus (see ``python scripts/make_demo_corpus.py --help``)."""

from singerid.make_demo_corpus import main

if __name__ == "__main__":
    raise SystemExit(main())
