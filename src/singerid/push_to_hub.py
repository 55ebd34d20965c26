"""`singerid push_to_hub`: share a trained model (and its dataset) on the Hugging Face Hub.

The Hub address and token are huggingface_hub's: HF_ENDPOINT, HF_TOKEN or `hf auth login`.
"""

from __future__ import annotations

import argparse

from .cli import command
from .hub import push_dataset, push_model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="singerid push_to_hub", description=__doc__.splitlines()[0])
    parser.add_argument("--model", metavar="RUN_DIR", help="a training output folder")
    parser.add_argument("--model-repo", metavar="USER/NAME", help="the model repository")
    parser.add_argument("--dataset", metavar="DATASET_DIR", help="a folder from preprocess.py")
    parser.add_argument("--dataset-repo", metavar="USER/NAME", help="the dataset repository")
    parser.add_argument("--private", action="store_true", help="create private repositories")
    return parser


@command
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.model) != bool(args.model_repo) or bool(args.dataset) != bool(args.dataset_repo):
        parser.error("--model goes with --model-repo, and --dataset with --dataset-repo")
    if not (args.model or args.dataset):
        parser.error("nothing to push: give --model/--model-repo and/or --dataset/--dataset-repo")
    if args.dataset:
        repo = push_dataset(args.dataset, args.dataset_repo, private=args.private)
        print(f"dataset pushed to {repo}")
    if args.model:
        repo = push_model(args.model, args.model_repo, private=args.private)
        print(f"model pushed to {repo}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
