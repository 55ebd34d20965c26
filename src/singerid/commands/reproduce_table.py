"""`singerid reproduce_table`: the course report's four configurations on artist20, and table.md.

    singerid reproduce_table --data ARTIST20_ROOT --output DIR
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..recipes.reproduction import CONFIGURATIONS, DEFAULT_BACKBONES, reproduce
from . import OutputOptions, claim, command, parse


@dataclass
class ReproduceArguments:
    data: str = field(metadata={
        "help": "the extracted artist20 folder (holding mp3s-32k/), or any <artist>/<album>/<track> corpus"})
    output: str = field(metadata={"help": "folder for datasets, runs and table.md"})
    backbones: str = field(default=",".join(f"{k}={v}" for k, v in DEFAULT_BACKBONES.items()), metadata={
        "help": "which backbone plays MERT and WavLM, e.g. mert=tiny-mert,wavlm=tiny-wavlm"})
    only: str | None = field(default=None, metadata={
        "help": "comma-separated configurations: " + ", ".join(c.name for c in CONFIGURATIONS)})
    quick: bool = field(default=False, metadata={"help": "one epoch per run: a smoke test of the whole table"})
    split_lists: str | None = field(default=None, metadata={"help": "explicit split lists (e.g. ARTIST20_ROOT/lists)"})
    separator: str = field(default="htdemucs", metadata={"help": "the demucs model of the 'vocals' data"})
    demucs_repo: str | None = field(default=None, metadata={
        "help": "local demucs weights (default: demucs's caches, or a download when online)"})


@command
def main(argv: list[str] | None = None) -> int:
    args, output = parse(argv, ReproduceArguments, OutputOptions, prog="reproduce_table",
                         description=__doc__.splitlines()[0])
    claim(args.output, "reproduce_table", argv, output)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    backbones = dict(item.split("=", 1) for item in args.backbones.split(",") if item)
    table = reproduce(args.data, args.output, backbones=backbones, quick=args.quick, split_lists=args.split_lists,
                      separator=args.separator, demucs_repo=args.demucs_repo,
                      only=args.only.split(",") if args.only else None)
    print(table.read_text())
    print(f"written to {table}")
    return 0
