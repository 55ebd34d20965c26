"""`singerid demo` (`make demo`): the main job end to end on the embedded demo corpus, offline.

Synthesise the demo corpus → preprocess it into a DatasetDict. Vocal separation runs
with htdemucs when its weights are available locally (`--demucs-repo DIR`, or already in
the demucs / Hugging Face caches); otherwise the demo says so and uses `--separator none`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .demo_corpus import synthesize_corpus
from .preprocess import main as preprocess_main
from .preprocessing.separation import weights_cached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="singerid demo", description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="demo_run", help="folder for everything the demo makes (default demo_run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--separator", default="htdemucs", help="demucs model; 'none' skips separation")
    parser.add_argument("--demucs-repo", metavar="DIR", help="local demucs weights")
    parser.add_argument("--sampling-rate", type=int, default=24000, help="24000 for MERT, 16000 for WavLM")
    corpus = parser.add_argument_group("demo corpus size (defaults: the full demo)")
    corpus.add_argument("--singers", type=int, default=6)
    corpus.add_argument("--songs", type=int, default=3, help="songs per album (6 albums per singer)")
    corpus.add_argument("--seconds", type=float, default=25.0, help="typical song length")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    output = Path(args.output)
    corpus, dataset = output / "corpus", output / "dataset"
    started = time.perf_counter()

    if (corpus / "_stems").is_dir():
        print(f"[1/2] demo corpus already at {corpus}")
    else:
        print(f"[1/2] synthesising the demo corpus into {corpus}")
        synthesize_corpus(corpus, seed=args.seed, singers=args.singers, songs=args.songs, seconds=args.seconds)

    separator = args.separator
    if separator != "none" and not args.demucs_repo and not weights_cached(separator):
        print(f"      demucs weights for {separator!r} are not available offline: preprocessing with "
              "--separator none (pass --demucs-repo DIR, or run once online, to separate vocals)")
        separator = "none"
    print(f"[2/2] preprocessing into {dataset} (separator: {separator})")
    options = ["--input", str(corpus), "--output", str(dataset), "--separator", separator,
               "--sampling-rate", str(args.sampling_rate)]
    if args.demucs_repo:
        options += ["--demucs-repo", args.demucs_repo]
    code = preprocess_main(options)
    if code != 0:
        return code

    summary = json.loads((dataset / "preprocess_report.json").read_text())["summary"]
    print(f"\ndemo finished in {time.perf_counter() - started:.0f} s")
    print(f"  songs: {summary['ok']} processed, {summary['skipped']} skipped")
    print(f"  segments: {summary['segments']}")
    print(f"  dataset: {dataset} (datasets.load_from_disk), card: {dataset / 'README.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
