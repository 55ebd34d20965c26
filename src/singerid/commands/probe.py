"""`singerid probe`: a linear probe per hidden state of a backbone, on a dataset's splits.

One logistic regression per hidden state, on the per-layer mean-pooled features that the
weighted-sum head mixes (training's feature cache), trained on train, its L2 strength chosen
on validation; segment and song top-1 on validation and test go to probe.csv and probe.png.
With --model of a weighted_sum model, its learned layer weights are drawn beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..probing import probe_hidden_states
from . import OutputOptions, claim, command, parse
from .predict import DTYPES


@dataclass
class ProbeArguments:
    dataset: str = field(metadata={"help": "a folder from preprocess or a Hub dataset id (needs a train split)"})
    output: str = field(metadata={"help": "folder for probe.csv and probe.png"})
    backbone: str | None = field(default=None, metadata={
        "help": "a preset name, Hub id or folder: probe it inside a fresh frozen weighted_sum classifier"})
    model: str | None = field(default=None, metadata={
        "help": "a saved model folder or Hub id: probe its own backbone (finetuned or not), draw its layer weights"})
    batch_size: int = 24
    autocast: Literal["no", "bf16", "fp16"] | None = field(default=None, metadata={
        "help": "precision of the feature pass (default: as training computes them: the model's own, "
                "else bf16/fp16 on CUDA and fp32 elsewhere)"})
    dtype: DTYPES | None = field(default=None, metadata={"help": "--model: run it in this precision (default: as saved)"})
    seed: int = field(default=42, metadata={
        "help": "set before the classifier is built, as train's --seed (random tiny-* backbones then match)"})

    def __post_init__(self):
        if (self.backbone is None) == (self.model is None):
            raise ValueError("give exactly one of --backbone (a fresh classifier around it) or --model (a saved model)")


@command
def main(argv: list[str] | None = None) -> int:
    args, output = parse(argv, ProbeArguments, OutputOptions, prog="probe", description=__doc__.splitlines()[0])
    claim(args.output, "probe", argv, output)
    report = probe_hidden_states(args.dataset, args.output, backbone=args.backbone, model=args.model,
                                 batch_size=args.batch_size, autocast=args.autocast, dtype=args.dtype, seed=args.seed)
    best = next(probe for probe in report.probes if probe.layer == report.best_layer)
    scores = "; ".join(f"{split} song top-1 {best.scores[split]['song_top1']:.3f}, "
                       f"segment {best.scores[split]['segment_top1']:.3f}" for split in report.splits)
    missing = f" (no {' or '.join(report.missing_splits)} split: not probed)" if report.missing_splits else ""
    print(f"probed {len(report.probes)} hidden states of {report.source}: best on {report.selection_split} is "
          f"hidden state {best.layer} ({scores}){missing}; written to {report.csv} and {report.plot}")
    return 0
