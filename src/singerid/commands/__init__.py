"""The command layer: `singerid <command>`, `python -m singerid <command>` and
`python scripts/<command>.py`. Each command is a thin module: its arguments as
dataclasses (parsed by HfArgumentParser, so a YAML or JSON file works too), one call
into the library, and an exit code. Only here do errors become printed lines.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SingeridError, one_line

# What a user can fix (a missing folder, an unreachable model, absent weights, a bad
# option value) ends a command with one line; anything else is a bug and keeps its
# traceback. SINGERID_DEBUG=1 shows the traceback always.
USER_ERRORS = (SingeridError, OSError, ValueError)

COMMANDS = {
    "demo": "run the main job end to end on the embedded demo corpus",
    "make_demo_corpus": "synthesise the demo corpus (artist20 layout)",
    "preprocess": "songs → DatasetDict of vocal segments, split by album",
    "train": "train a singer classifier (Trainer; runs under accelerate launch)",
    "evaluate_model": "metrics and confusion matrix of a saved model on a dataset split",
    "probe": "a linear probe per hidden state: where in the backbone the singer is (CSV, plot)",
    "predict": "top-k singers of songs, with the model's own preprocessing (CSV / JSON)",
    "embed": "song embeddings of song files → a datasets.Dataset (id, path, embedding)",
    "enroll": "add singers to a model's gallery from a few songs each, without retraining",
    "download_artist20": "download, check and safely unpack the artist20 corpus (needs internet)",
    "reproduce_table": "the reference table's configurations on artist20 → table.md",
    "push_to_hub": "share a trained model and its dataset on the Hub, with cards",
    "app": "a web page: upload or record a song, see its singers and timeline (needs singerid[app])",
    "space": "a model's page as a Hugging Face Space: written for review, or pushed",
}


def command_line(argv: list[str] | None) -> list[str]:
    """The command's arguments: `argv`, or the process's own."""
    return sys.argv[1:] if argv is None else argv


def parse(argv: list[str] | None, *types, prog: str, description: str):
    """The argument dataclasses, from the command line or from one YAML / JSON file."""
    from transformers import HfArgumentParser

    argv = command_line(argv)
    parser = HfArgumentParser(types, prog=f"singerid {prog}", description=description)
    try:
        if len(argv) == 1 and argv[0].endswith((".yaml", ".yml")):
            parsed = parser.parse_yaml_file(argv[0])
        elif len(argv) == 1 and argv[0].endswith(".json"):
            parsed = parser.parse_json_file(argv[0])
        else:
            parsed = parser.parse_args_into_dataclasses(args=argv)
    except ValueError as error:  # an argument dataclass refused a value: a usage error, as argparse's own
        parser.error(str(error))
    return parsed[0] if len(types) == 1 else parsed


@dataclass
class OutputOptions:
    """Every command that writes a folder takes these (parsed beside its own arguments)."""

    overwrite: bool = field(default=False, metadata={
        "help": "write into an output folder that holds files singerid did not write there (nothing is deleted)"})


def claim(folder: str | Path, prog: str, argv: list[str] | None, options: OutputOptions) -> Path:
    """The command's output folder, refused when it holds what the command did not write
    (see `singerid.outputs`); records the run there."""
    from ..outputs import claim_output

    return claim_output(folder, prog, command_line(argv), overwrite=options.overwrite)


def log_progress() -> None:
    """singerid's own progress messages (e.g. each process's share under accelerate launch)
    on stderr; other libraries keep their warnings-only default."""
    logging.basicConfig(format="%(levelname)s %(message)s")
    logging.getLogger("singerid").setLevel(logging.INFO)


def command(main):
    """Wrap a command's `main(argv) -> int`: user errors become `error: ...` on stderr and exit code 1."""

    @functools.wraps(main)
    def run(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except USER_ERRORS as error:
            if os.environ.get("SINGERID_DEBUG"):
                raise
            print(f"error: {one_line(error)}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            return 130

    return run


def main(argv: list[str] | None = None) -> int:
    argv = command_line(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: singerid <command> [options]\n\ncommands:")
        for name, summary in COMMANDS.items():
            print(f"  {name:<18} {summary}")
        return 0 if argv else 2
    name = argv[0].replace("-", "_")
    if name not in COMMANDS:
        print(f"singerid: unknown command {argv[0]!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return importlib.import_module(f"{__name__}.{name}").main(argv[1:])
