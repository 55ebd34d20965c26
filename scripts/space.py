"""singerid space: a trained model's page as a Hugging Face Space, written for review or pushed (see --help). Also `singerid space` and `python -m singerid space`."""

from singerid.commands.space import main

if __name__ == "__main__":
    raise SystemExit(main())
