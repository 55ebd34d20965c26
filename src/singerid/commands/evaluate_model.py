"""`singerid evaluate_model`: metrics, confusion matrix and per-artist accuracy of any saved model.

(Not `evaluate`: a script of that name would shadow the `evaluate` library.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..evaluation import evaluate_dataset
from ..reports import format_metrics
from . import command, parse
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


@command
def main(argv: list[str] | None = None) -> int:
    args = parse(argv, EvaluateArguments, prog="evaluate_model", description=__doc__.splitlines()[0])
    metrics = evaluate_dataset(args.model, args.dataset, args.split, args.output, args.batch_size, args.dtype,
                               args.autocast)
    print(format_metrics(metrics))
    print(f"written to {args.output}")
    return 0
