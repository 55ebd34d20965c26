"""singerid evaluate_model: metrics and confusion matrix of a saved model on a dataset split (see --help). Also `singerid evaluate_model` and `python -m singerid evaluate_model`."""

from singerid.commands.evaluate_model import main

if __name__ == "__main__":
    raise SystemExit(main())
