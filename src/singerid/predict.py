"""`singerid predict`: the top-k singers of every song in a folder or a list of files.

CSV rows are `ID,No.1,No.2,No.3` without a header (the 2023 homework's format); JSON is
`{"ID": ["No.1", "No.2", "No.3"]}` (the 2025 format). IDs are the files' stems (where stems repeat, their paths tell them apart).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from .cli import command
from .prediction import SongPrediction, find_audio_files, predict_songs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="singerid predict", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a saved model folder or Hub id")
    parser.add_argument("--input", required=True, nargs="+", help="song files and/or folders (searched recursively)")
    parser.add_argument("--output", required=True, help="FILE.csv or FILE.json")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--scores", action="store_true", help="write each artist's probability too")
    parser.add_argument("--separator", help="override the model's separator ('none' skips separation)")
    parser.add_argument("--demucs-repo", metavar="DIR",
                        help="local demucs weights (default: demucs's caches, or a download when online)")
    parser.add_argument("--no-silence-removal", dest="remove_silence", action="store_const", const=False,
                        help="override the model's silence removal")
    parser.add_argument("--batch-size", type=int, default=4, help="songs per forward pass")
    parser.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                        help="run the model in this precision (default: as saved)")
    parser.add_argument("--cache-dir", help="separation cache (default $SINGERID_CACHE or ~/.cache/singerid)")
    return parser


@command
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    output = Path(args.output)
    if output.suffix.lower() not in (".csv", ".json"):
        print(f"error: {output}: the output must end in .csv or .json", file=sys.stderr)
        return 2
    files = find_audio_files(args.input)
    if not files:
        print(f"error: no audio files in {' '.join(args.input)}", file=sys.stderr)
        return 1
    predictions = predict_songs(files, args.model, top_k=args.top_k, separator=args.separator,
                                demucs_repo=args.demucs_repo, remove_silence=args.remove_silence,
                                device=args.device, dtype=args.dtype, batch_size=args.batch_size,
                                cache_dir=args.cache_dir)
    done = [p for p in predictions if p.error is None]
    output.parent.mkdir(parents=True, exist_ok=True)
    (write_json if output.suffix.lower() == ".json" else write_csv)(output, done, args.scores)
    failed = [p for p in predictions if p.error is not None]
    errors = output.with_name(output.stem + ".errors.tsv")
    if failed:
        errors.write_text("".join(f"{p.path}\t{p.error}\n" for p in failed), encoding="utf-8")
    quiet = sum(p.nothing_audible for p in done)
    print(f"{len(done)} songs predicted → {output}"
          + (f" ({quiet} on their loudest window: nothing audible after cleaning)" if quiet else "")
          + (f"; {len(failed)} failed, listed in {errors}" if failed else ""))
    return 0 if done else 1


def write_csv(path: Path, predictions: list[SongPrediction], scores: bool) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        for p in predictions:
            cells = [item for pair in zip(p.labels, (f"{s:.6f}" for s in p.scores)) for item in pair] if scores else p.labels
            writer.writerow([p.id, *cells])


def write_json(path: Path, predictions: list[SongPrediction], scores: bool) -> None:
    body = {p.id: [[label, round(score, 6)] for label, score in zip(p.labels, p.scores)] if scores else p.labels
            for p in predictions}
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
