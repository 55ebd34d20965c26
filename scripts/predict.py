"""singerid predict: top-k singers of songs, with the model's own preprocessing (CSV / JSON) (see --help). Also `singerid predict` and `python -m singerid predict`."""

from singerid.commands.predict import main

if __name__ == "__main__":
    raise SystemExit(main())
