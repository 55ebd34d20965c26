"""`singerid demo` (`make demo`): the main job end to end on the embedded demo corpus, offline.

demo corpus → preprocess → train weighted_sum, then finetune → evaluate the test album →
classify one held-out song with the audio-classification pipeline.

What it trains on (`--vocals`): vocals separated with htdemucs when its weights are
available locally (`--demucs-repo DIR`, or already in the demucs / Hugging Face caches);
otherwise the demo says so and preprocesses the corpus's reference vocal stems instead,
what a perfect separator would give. `--vocals mix` trains on the full mixes (the
no-separation ablation; the demo's backing tracks are shared by all singers, so it is
much harder). The default backbone is the tiny random MERT
architecture, so nothing is downloaded; `--backbone mert-v1-95m` (or `make demo
BACKBONE=mert-v1-95m`) uses real weights from the Hub.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .backbones import PRESETS
from .cli import command
from .demo_corpus import synthesize_corpus
from .preprocessing.separation import weights_cached

STRATEGIES = ("weighted_sum", "finetune")
# Random tiny backbones learn only with a livelier head; real ones use the reference's settings.
TINY_SETTINGS = {"weighted_sum": ["--learning_rate", "1e-3", "--num_train_epochs", "100"],
                 "finetune": ["--learning_rate", "1e-3", "--num_train_epochs", "8"]}
REAL_SETTINGS = {"weighted_sum": ["--num_train_epochs", "20"], "finetune": ["--num_train_epochs", "10"]}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="singerid demo", description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="demo_run", help="folder for everything the demo makes (default demo_run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backbone", default="tiny-mert", help="tiny-mert (default, offline) or a preset / Hub id")
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="which heads to train, comma-separated")
    parser.add_argument("--vocals", choices=("auto", "demucs", "stems", "mix"), default="auto",
                        help="train on demucs-separated vocals, the corpus's reference stems, or the full mix; "
                             "auto: demucs when its weights are available offline, else the stems")
    parser.add_argument("--separator", default="htdemucs", help="the demucs model for --vocals demucs")
    parser.add_argument("--demucs-repo", metavar="DIR", help="local demucs weights")
    corpus = parser.add_argument_group("demo corpus size (defaults: the full demo)")
    corpus.add_argument("--singers", type=int, default=6)
    corpus.add_argument("--songs", type=int, default=3, help="songs per album (6 albums per singer)")
    corpus.add_argument("--seconds", type=float, default=25.0, help="typical song length")
    return parser


@command
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .evaluate_model import main as evaluate_main
    from .preprocess import main as preprocess_main
    from .train import format_metrics
    from .train import main as train_main

    output = Path(args.output)
    corpus, dataset = output / "corpus", output / "dataset"
    strategies = [name for name in args.strategies.split(",") if name]
    steps = 3 + len(strategies)
    started = time.perf_counter()

    if (corpus / "_stems").is_dir():
        print(f"[1/{steps}] demo corpus already at {corpus}")
    else:
        print(f"[1/{steps}] synthesising the demo corpus into {corpus}")
        synthesize_corpus(corpus, seed=args.seed, singers=args.singers, songs=args.songs, seconds=args.seconds)

    vocals = args.vocals
    if vocals == "auto":
        vocals = "demucs" if args.demucs_repo or weights_cached(args.separator) else "stems"
        if vocals == "stems":
            print(f"      demucs weights for {args.separator!r} are not available offline: preprocessing the "
                  "corpus's reference vocal stems instead (pass --demucs-repo DIR to separate for real)")
    source = corpus / "_stems" if vocals == "stems" else corpus
    separator = args.separator if vocals == "demucs" else "none"
    preset = PRESETS.get(args.backbone)
    rate = preset.sampling_rate if preset else 24000
    print(f"[2/{steps}] preprocessing {source} into {dataset} (separator: {separator}, {rate} Hz)")
    options = ["--input", str(source), "--output", str(dataset), "--separator", separator, "--sampling-rate", str(rate)]
    if args.demucs_repo:
        options += ["--demucs-repo", args.demucs_repo]
    if preprocess_main(options) != 0:
        return 1

    settings = TINY_SETTINGS if args.backbone.startswith("tiny") else REAL_SETTINGS
    metrics = {}
    for step, strategy in enumerate(strategies, start=3):
        run = output / strategy
        print(f"[{step}/{steps}] training {strategy} on {args.backbone} → {run}")
        if train_main(["--dataset", str(dataset), "--backbone", args.backbone, "--strategy", strategy,
                       "--output_dir", str(run), "--seed", str(args.seed), "--save_total_limit", "1",
                       "--disable_tqdm", "true", "--logging_strategy", "no", *settings[strategy]]) != 0:
            return 1  # the command has said why, in one line
        metrics[strategy] = json.loads((run / "metrics.json").read_text())

    best = output / strategies[0]
    print(f"[{steps}/{steps}] evaluating {best} on the test album, and one held-out song through the pipeline")
    if evaluate_main(["--model", str(best), "--dataset", str(dataset), "--split", "test",
                      "--output", str(output / "evaluation")]) != 0:
        return 1
    song, answer = classify_one_test_song(best, dataset, source)

    print(f"\ndemo finished in {time.perf_counter() - started:.0f} s (backbone {args.backbone}, vocals: {vocals})")
    for strategy, values in metrics.items():
        print(f"\n{strategy}:\n{format_metrics(values)}")
    print(f"\npipeline on {song}:")
    for row in answer:
        print(f"  {row['label']:<16} {row['score']:.3f}")
    print(f"\noutputs: {dataset} (dataset), " + ", ".join(str(output / s) for s in strategies)
          + f" (models, metrics.json, confusion matrices), {output / 'evaluation'}")
    return 0


def classify_one_test_song(model_dir: Path, dataset_dir: Path, corpus: Path) -> tuple[str, list[dict]]:
    """The first test-split song, as its original file, through `pipeline("audio-classification")`."""
    from transformers import pipeline

    songs = json.loads((dataset_dir / "preprocess_report.json").read_text())["songs"]
    source = next(song["source"] for song in songs.values() if song["split"] == "test" and song["status"] == "ok")
    classify = pipeline("audio-classification", model=str(model_dir))
    return str(corpus / source), classify(str(corpus / source), top_k=3)


if __name__ == "__main__":
    raise SystemExit(main())
