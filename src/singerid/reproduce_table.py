"""`singerid reproduce_table`: the course report's four configurations on artist20, and table.md.

    python scripts/reproduce_table.py --data ARTIST20_ROOT --output DIR
"""

from __future__ import annotations

import argparse
import logging

from .cli import command
from .reproduction import CONFIGURATIONS, DEFAULT_BACKBONES, reproduce


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="singerid reproduce_table", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True,
                        help="the extracted artist20 folder (holding mp3s-32k/), or any <artist>/<album>/<track> corpus")
    parser.add_argument("--output", required=True, help="folder for datasets, runs and table.md")
    parser.add_argument("--backbones", default=",".join(f"{k}={v}" for k, v in DEFAULT_BACKBONES.items()),
                        help="which backbone plays MERT and WavLM, e.g. mert=tiny-mert,wavlm=tiny-wavlm")
    parser.add_argument("--only", help="comma-separated configurations: "
                        + ", ".join(c.name for c in CONFIGURATIONS))
    parser.add_argument("--quick", action="store_true", help="one epoch per run: a smoke test of the whole table")
    parser.add_argument("--split-lists", metavar="DIR", help="explicit split lists (e.g. ARTIST20_ROOT/lists)")
    parser.add_argument("--separator", default="htdemucs")
    parser.add_argument("--demucs-repo", metavar="DIR",
                        help="local demucs weights (default: demucs's caches, or a download when online)")
    return parser


@command
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    backbones = dict(item.split("=", 1) for item in args.backbones.split(",") if item)
    table = reproduce(args.data, args.output, backbones=backbones, quick=args.quick, split_lists=args.split_lists,
                      separator=args.separator, demucs_repo=args.demucs_repo,
                      only=args.only.split(",") if args.only else None)
    print(table.read_text())
    print(f"written to {table}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
