"""`singerid push_to_hub`: share a trained model (and its dataset) on the Hugging Face Hub.

The Hub address and token are huggingface_hub's: HF_ENDPOINT, HF_TOKEN or `hf auth login`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..hub import push_dataset, push_model
from . import command, parse


@dataclass
class PushArguments:
    model: str | None = field(default=None, metadata={"help": "a training output folder"})
    model_repo: str | None = field(default=None, metadata={"help": "the model repository, USER/NAME"})
    dataset: str | None = field(default=None, metadata={"help": "a folder from preprocess"})
    dataset_repo: str | None = field(default=None, metadata={"help": "the dataset repository, USER/NAME"})
    private: bool = field(default=False, metadata={"help": "create private repositories"})

    def __post_init__(self):
        if bool(self.model) != bool(self.model_repo) or bool(self.dataset) != bool(self.dataset_repo):
            raise ValueError("--model goes with --model-repo, and --dataset with --dataset-repo")
        if not (self.model or self.dataset):
            raise ValueError("nothing to push: give --model/--model-repo and/or --dataset/--dataset-repo")


@command
def main(argv: list[str] | None = None) -> int:
    args = parse(argv, PushArguments, prog="push_to_hub", description=__doc__.splitlines()[0])
    if args.dataset:
        print(f"dataset pushed to {push_dataset(args.dataset, args.dataset_repo, private=args.private)}")
    if args.model:
        print(f"model pushed to {push_model(args.model, args.model_repo, private=args.private)}")
    return 0
