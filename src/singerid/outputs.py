"""Output folders a command may write into: never a folder that holds what it did not write.

A command claims its output folder before it writes anything there. The folder must be new
or empty, or hold an earlier output of the same command: recognised by the run record the
command leaves (`RUN_RECORD`: the command and its arguments), or, for folders written by
singerid versions before the record, by files only that command writes. Anything else is
refused unless the user passes `--overwrite`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import SingeridError, is_a_path

RUN_RECORD = "singerid_run.json"
# Files that mark an earlier output of a command written before the run record existed
# (glob patterns relative to the folder; any one is enough).
EARLIER_OUTPUTS = {
    "preprocess": ("preprocess_report.json",),
    "train": ("training_summary.json", "checkpoint-*/trainer_state.json"),
    "evaluate_model": ("metrics.json",),
    "probe": ("probe.csv",),
    "reproduce_table": ("table.md",),
    "demo": ("dataset/preprocess_report.json", "corpus/_stems"),
    "make_demo_corpus": ("_stems",),
    "download_artist20": ("*.tgz.sha256",),
    "enroll": (),
    "embed": (),
    "predict": (),
    "space": (),
}
OVERWRITE_HINT = "choose a new or empty folder, or pass --overwrite to write into this one anyway"


class OutputInUse(SingeridError):
    """An output folder holds files that the command did not write."""


def run_record(folder: str | Path) -> dict | None:
    """The run record a command left in `folder`, or None (none, or unreadable)."""
    try:
        record = json.loads(Path(folder, RUN_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def foreign_files(folder: str | Path, command: str) -> list[str]:
    """Names in `folder` that are not an earlier output of `command` (none: the folder is
    new, empty, or the command's own)."""
    folder = Path(folder)
    if not folder.exists():
        return []
    if not folder.is_dir():
        return [folder.name]
    # The record itself (and a record being written by a sibling process) is never foreign.
    names = sorted(entry.name for entry in folder.iterdir() if not entry.name.startswith(RUN_RECORD))
    if not names:
        return []
    record = run_record(folder)
    if record is not None:
        return [] if record.get("command") == command else names
    earlier = EARLIER_OUTPUTS[command]
    return [] if any(next(folder.glob(pattern), None) for pattern in earlier) else names


def check_output(folder: str | Path, command: str, overwrite: bool = False) -> Path:
    """`folder` when `command` may write into it (nothing is written): raises `OutputInUse`
    when it holds files the command did not write, unless `overwrite`."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputInUse(f"{folder}: is a file, not a folder: give a folder for the {command} output")
    foreign = foreign_files(folder, command)
    if foreign and not overwrite:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise OutputInUse(f"{folder}: holds files that singerid {command} did not write ({shown}); {OVERWRITE_HINT}")
    return folder


def record_run(folder: str | Path, command: str, arguments: list[str] | None = None) -> Path:
    """Write the run record into `folder` (made when missing): the command and its arguments,
    with this machine's paths reduced to their last part, so it names no path even if the
    folder is shared."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # e.g. a file where a parent folder should be
        raise OutputInUse(f"{folder}: cannot be made ({error.strerror or error}): give a folder that can be "
                          f"created") from None
    record = {"command": command, "arguments": [_portable(argument) for argument in arguments or []]}
    partial = folder / f"{RUN_RECORD}.{os.getpid()}.partial"  # several processes may claim at once
    partial.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    partial.replace(folder / RUN_RECORD)
    return folder


def claim_output(folder: str | Path, command: str, arguments: list[str] | None = None,
                 overwrite: bool = False) -> Path:
    """Make `folder` `command`'s output folder before anything is written there: checked
    (`check_output`), then made and recorded (`record_run`)."""
    return record_run(check_output(folder, command, overwrite), command, arguments)


def _portable(argument: str) -> str:
    if is_a_path(argument) or (os.sep in argument and Path(argument).exists()):
        return Path(argument).name
    return argument
