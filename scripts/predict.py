"""Predict the singers of songs with a trained model (see `--help`)."""

from singerid.predict import main

if __name__ == "__main__":
    raise SystemExit(main())
