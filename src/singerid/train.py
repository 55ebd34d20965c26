"""`singerid train` (also `accelerate launch scripts/train.py`): train a singer classifier.

Arguments come from the command line or one YAML/JSON file:

    python scripts/train.py --dataset OUT --backbone mert-v1-330m --strategy weighted_sum --output_dir RUN
    accelerate launch --config_file accelerate_config.yaml scripts/train.py config.yaml
"""

from __future__ import annotations

import sys

from transformers import HfArgumentParser

from .cli import command
from .training import DataArguments, ModelArguments, SingerTrainingArguments, run_training


def parse(argv: list[str]) -> tuple[DataArguments, ModelArguments, SingerTrainingArguments]:
    parser = HfArgumentParser((DataArguments, ModelArguments, SingerTrainingArguments),
                              prog="singerid train", description=__doc__.splitlines()[0])
    if len(argv) == 1 and argv[0].endswith((".yaml", ".yml")):
        return parser.parse_yaml_file(argv[0])
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(argv[0])
    return parser.parse_args_into_dataclasses(args=argv)


@command
def main(argv: list[str] | None = None) -> int:
    data_args, model_args, training_args = parse(sys.argv[1:] if argv is None else argv)
    metrics = run_training(data_args, model_args, training_args)
    if training_args.process_index == 0:
        print(format_metrics(metrics))
        print(f"model, metrics.json and plots in {training_args.output_dir}")
    return 0


def format_metrics(metrics: dict) -> str:
    columns = ("song_top1", "song_top3", "song_macro_f1", "segment_top1", "segment_top3", "song_vote_top1")
    lines = [f"{'split':<11}" + "".join(f"{name:>15}" for name in columns) + f"{'songs':>7}"]
    for split, values in metrics.items():
        lines.append(f"{split:<11}" + "".join(f"{values[name]:>15.3f}" for name in columns)
                     + f"{values['num_songs']:>7}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
