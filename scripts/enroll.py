"""singerid enroll: add singers to a model's gallery from a few songs each, without retraining (see --help). Also `singerid enroll` and `python -m singerid enroll`."""

from singerid.commands.enroll import main

if __name__ == "__main__":
    raise SystemExit(main())
