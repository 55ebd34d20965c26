"""`singerid evaluate_model`: metrics, confusion matrix and per-artist accuracy of any saved model.

With --open-set: how the model's gallery of singers tells known from unknown singers, on a
dataset whose artists may be a superset of the model's. (Not `evaluate`: a script of that
name would shadow the `evaluate` library.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..evaluation import evaluate_dataset
from ..reports import format_metrics
from . import OutputOptions, claim, command, parse
from .predict import DTYPES


@dataclass
class EvaluateArguments:
    model: str = field(metadata={"help": "a saved model folder or Hub id"})
    dataset: str = field(metadata={"help": "a folder from preprocess or a Hub dataset id"})
    output: str = field(metadata={"help": "folder for metrics.json, confusion matrix, per-artist table"})
    split: str = field(default="test", metadata={"help": "which split to evaluate"})
    batch_size: int = 24
    dtype: DTYPES | None = field(default=None, metadata={"help": "run the model in this precision (default: as saved)"})
    autocast: Literal["no", "bf16", "fp16"] | None = field(default=None, metadata={
        "help": "mixed precision of the forward (default: as the run was trained and finally evaluated)"})
    # %% is argparse's way of writing %: help texts are format strings
    open_set: bool = field(default=False, metadata={
        "help": "rank-1, EER and AUROC of known vs unknown singers, DIR and false accepts at the threshold and at "
                "1 %% and 5 %% false accepts, n-shot enrollment from the train split"})


@command
def main(argv: list[str] | None = None) -> int:
    args, output = parse(argv, EvaluateArguments, OutputOptions, prog="evaluate_model",
                         description=__doc__.splitlines()[0])
    claim(args.output, "evaluate_model", argv, output)
    if args.open_set:
        from ..enrollment import evaluate_open_set

        results = evaluate_open_set(args.model, args.dataset, args.split, args.output, args.batch_size, args.dtype,
                                    args.autocast)
        shots = ", ".join(f"{n}-shot {values['accuracy']:.3f}" for n, values in results["n_shot"].items())
        at = results["at_threshold"]
        print(f"open set, {args.split} ({results['scoring']} scoring): {results['songs_known']} known / "
              f"{results['songs_unknown']} unknown songs; "
              f"AUROC {results.get('auroc', float('nan')):.3f}, EER {results.get('eer', float('nan')):.3f}; at the "
              f"threshold: DIR {_rate(at['dir'])}, false accepts {_rate(at['false_accept_rate'])}"
              + (f"; {shots}" if shots else "") + f"; written to {args.output}"
              + (f" (warning: {results['warning']})" if "warning" in results else ""))
        return 0
    metrics = evaluate_dataset(args.model, args.dataset, args.split, args.output, args.batch_size, args.dtype,
                               args.autocast)
    print(format_metrics(metrics))
    print(f"written to {args.output}")
    return 0


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
