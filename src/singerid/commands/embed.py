"""`singerid embed`: song embeddings of song files, with the model's own preprocessing.

Writes a `datasets.Dataset` (id, path, embedding: the unit song embedding) to --output,
readable with `datasets.load_from_disk`; songs that fail are listed in errors.tsv there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..enrollment import embed_songs
from ..prediction import find_audio_files
from . import command, parse
from .predict import SongOptions


@dataclass
class EmbedArguments:
    model: str = field(metadata={"help": "a saved model folder or Hub id"})
    input: list[str] = field(metadata={"help": "song files and/or folders (searched recursively)"})
    output: str = field(metadata={"help": "folder for the embeddings dataset"})


@command
def main(argv: list[str] | None = None) -> int:
    args, options = parse(argv, EmbedArguments, SongOptions, prog="embed", description=__doc__.splitlines()[0])
    files = find_audio_files(args.input)
    if not files:
        raise FileNotFoundError(f"no audio files in {' '.join(args.input)}; give song files or folders holding them")
    dataset, failed = embed_songs(files, args.model, **asdict(options))
    dataset.save_to_disk(args.output)
    errors = Path(args.output, "errors.tsv")
    if failed:
        errors.write_text("".join(f"{p.path}\t{p.error}\n" for p in failed), encoding="utf-8")
    print(f"{dataset.num_rows} song embeddings → {args.output}"
          + (f"; {len(failed)} failed, listed in {errors}" if failed else ""))
    return 0 if dataset.num_rows else 1
