"""`singerid evaluate_model`: metrics, confusion matrix and per-artist accuracy of any saved model.

(Not `evaluate.py`: a script of that name would shadow the `evaluate` library.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli import command
from .data import AudioCollator, at_rate, load_corpus
from .evaluation import evaluate_split, write_confusion_matrix, write_metrics, write_per_artist_table
from .prediction import load_model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="singerid evaluate_model", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a saved model folder or Hub id")
    parser.add_argument("--dataset", required=True, help="a folder from preprocess.py or a Hub dataset id")
    parser.add_argument("--split", default="test")
    parser.add_argument("--output", required=True, help="folder for metrics.json, confusion matrix, per-artist table")
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                        help="run the model in this precision (default: as saved)")
    return parser


@command
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    model = load_model(args.model, args.dtype).eval()
    dataset, _ = load_corpus(args.dataset)
    if args.split not in dataset:
        print(f"error: {args.dataset} has no split {args.split!r} (it has {', '.join(dataset)})", file=sys.stderr)
        return 2
    rate = model.config.sampling_rate
    names = [model.config.id2label[index] for index in range(model.config.num_labels)]
    if dataset[args.split].features["label"].names != names:
        print(f"error: the dataset's labels {dataset[args.split].features['label'].names} "
              f"differ from the model's {names}", file=sys.stderr)
        return 2
    collator = AudioCollator(rate, round(model.config.chunk_seconds * rate))
    metrics, songs = evaluate_split(model, at_rate(dataset[args.split], rate), collator, args.batch_size)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    write_metrics(output / "metrics.json", {args.split: metrics})
    write_confusion_matrix(songs, names, output, title=f"song level, {args.split} split")
    write_per_artist_table(songs, names, output / "per_artist_accuracy.csv")
    print(f"{args.split}: " + ", ".join(f"{key} {value:.3f}" for key, value in metrics.items()
                                        if isinstance(value, float)))
    print(f"written to {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
