"""`singerid embed`: song embeddings of song files, with the model's own preprocessing.

Writes a `datasets.Dataset` (id, path, embedding: the unit song embedding) to --output,
readable with `datasets.load_from_disk`; songs that fail are listed in errors.tsv there.
`accelerate launch -m singerid embed ...` shares the songs between the processes, each on
its own device; the main process writes the one dataset, as one process would.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..enrollment import embed_songs
from ..names import write_errors_file
from ..outputs import check_output, record_run
from ..prediction import find_audio_files
from ..preprocessing.shares import ending_together
from . import OutputOptions, command, command_line, log_progress, parse
from .predict import SongOptions


@dataclass
class EmbedArguments:
    model: str = field(metadata={"help": "a saved model folder or Hub id"})
    input: list[str] = field(metadata={"help": "song files and/or folders (searched recursively)"})
    output: str = field(metadata={"help": "folder for the embeddings dataset"})


@command
def main(argv: list[str] | None = None) -> int:
    args, options, output = parse(argv, EmbedArguments, SongOptions, OutputOptions, prog="embed",
                                  description=__doc__.splitlines()[0])
    log_progress()
    files = find_audio_files(args.input)
    if not files:
        raise FileNotFoundError(f"no audio files in {' '.join(args.input)}; give song files or folders holding them")
    check_output(args.output, "embed", output.overwrite)  # before any song is read; recorded once written
    with ending_together() as processes:  # under accelerate launch: each process its share of the songs
        dataset, failed = embed_songs(files, args.model, **asdict(options))
        if not processes.is_main_process:  # a helper under accelerate launch: the main process writes
            return 0
        dataset.save_to_disk(args.output)
        record_run(args.output, "embed", command_line(argv))
        errors = write_errors_file(Path(args.output, "errors.tsv"), [(p.path, p.error) for p in failed])
        print(f"{dataset.num_rows} song embeddings → {args.output}"
              + (f"; {len(failed)} failed, listed in {errors}" if failed else ""))
        return 0 if dataset.num_rows else 1
