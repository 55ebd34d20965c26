"""`singerid train` (also `accelerate launch scripts/train.py`): train a singer classifier.

Arguments come from the command line or one YAML/JSON file:

    singerid train --dataset OUT --backbone mert-v1-330m --strategy weighted_sum --output_dir RUN
    accelerate launch --config_file accelerate_config.yaml scripts/train.py config.yaml
"""

from __future__ import annotations

from pathlib import Path

from ..hub import push_model
from ..reports import format_metrics
from ..training import DataArguments, ModelArguments, SingerTrainingArguments, run_training
from . import OutputOptions, claim, command, parse


@command
def main(argv: list[str] | None = None) -> int:
    data_args, model_args, training_args, output = parse(
        argv, DataArguments, ModelArguments, SingerTrainingArguments, OutputOptions, prog="train",
        description=__doc__.splitlines()[0])
    claim(training_args.output_dir, "train", argv, output)
    # We push ourselves after the final evaluation, so the card carries the final numbers
    # (Trainer's own push would upload its own card).
    push_to = (training_args.hub_model_id or Path(training_args.output_dir).name) if training_args.push_to_hub else None
    training_args.push_to_hub = False
    metrics = run_training(data_args, model_args, training_args)
    if training_args.process_index == 0:
        print(format_metrics(metrics))
        print(f"model, metrics.json and plots in {training_args.output_dir}")
        if push_to:
            repo = push_model(training_args.output_dir, push_to, private=bool(training_args.hub_private_repo),
                              token=training_args.hub_token)
            print(f"pushed to {repo}")
    return 0
