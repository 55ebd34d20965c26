"""`singerid <command> [options]`: each command is also `python -m singerid.<command>`."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "demo": "run the main job end to end on the embedded demo corpus",
    "make_demo_corpus": "synthesise the demo corpus (artist20 layout)",
    "preprocess": "songs → DatasetDict of vocal segments, split by album",
    "train": "train a singer classifier (Trainer; runs under accelerate launch)",
    "evaluate_model": "metrics and confusion matrix of a saved model on a dataset split",
    "predict": "top-k singers of songs, with the model's own preprocessing (CSV / JSON)",
    "download_artist20": "download, check and safely unpack the artist20 corpus (needs internet)",
    "reproduce_table": "the reference table's configurations on artist20 → table.md",
    "push_to_hub": "share a trained model and its dataset on the Hub, with cards",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: singerid <command> [options]\n\ncommands:")
        for name, summary in COMMANDS.items():
            print(f"  {name:<18} {summary}")
        return 0 if argv else 2
    command = argv[0].replace("-", "_")
    if command not in COMMANDS:
        print(f"singerid: unknown command {argv[0]!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return importlib.import_module(f"singerid.{command}").main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
