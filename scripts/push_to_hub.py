"""Push a trained model and its dataset to the Hugging Face Hub (see `--help`)."""

from singerid.push_to_hub import main

if __name__ == "__main__":
    raise SystemExit(main())
