"""singerid push_to_hub: share a trained model and its dataset on the Hub, with cards (see --help). Also `singerid push_to_hub` and `python -m singerid push_to_hub`."""

from singerid.commands.push_to_hub import main

if __name__ == "__main__":
    raise SystemExit(main())
