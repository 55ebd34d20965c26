"""`singerid enroll`: add singers to a model's gallery from a few songs each, without retraining.

    singerid enroll --model RUN --singer NAME --input SONGS...   # one singer
    singerid enroll --model RUN --input ROOT                     # ROOT/<singer>/<songs>

The gallery (gallery.safetensors) lies beside the model; a model from the Hub needs
--output DIR, where the model and its enlarged gallery are written (a new or empty folder,
or an earlier enrollment's: never another model; --output equal to --model is in place).
Enrolling the same songs again changes nothing; a trained artist's name needs --update.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..enrollment import enroll_singers, enrollment_output, singers_from_folder
from ..outputs import check_output, record_run
from ..prediction import find_audio_files
from . import OutputOptions, command, command_line, parse
from .predict import SongOptions


@dataclass
class EnrollArguments:
    model: str = field(metadata={"help": "a saved model folder (changed in place unless --output) or Hub id"})
    input: list[str] = field(metadata={
        "help": "the singer's songs (files or folders); without --singer, one folder of <singer>/<songs>"})
    singer: str | None = field(default=None, metadata={"help": "the name to enroll the songs under"})
    output: str | None = field(default=None, metadata={"help": "write the model and its gallery here instead"})
    update: bool = field(default=False, metadata={"help": "allow adding songs to an artist the model was trained on"})


@command
def main(argv: list[str] | None = None) -> int:
    args, options, output = parse(argv, EnrollArguments, SongOptions, OutputOptions, prog="enroll",
                                  description=__doc__.splitlines()[0])
    if args.singer is not None:  # an empty name is the library's to refuse, not a folder's
        singers = {args.singer: find_audio_files(args.input)}
    elif len(args.input) == 1:
        singers = singers_from_folder(args.input[0])
    else:
        raise ValueError("give --singer NAME with the songs, or one folder of <singer>/<songs> folders")
    empty = [name for name, songs in singers.items() if not songs]
    if empty:
        raise FileNotFoundError(f"no audio files for {', '.join(empty)} in {' '.join(args.input)}")
    target = enrollment_output(args.model, args.output)  # None: in place
    if target is not None:  # checked before any song is read, recorded once enrolled
        check_output(target, "enroll", output.overwrite)
    result = enroll_singers(args.model, singers, output=target, update=args.update, **asdict(options))
    if target is not None:
        record_run(target, "enroll", command_line(argv))
    added = ", ".join(f"{name} +{count}" for name, count in result.added.items())
    threshold = (f"threshold {result.calibration.threshold:.3f}" if result.calibration
                 else "no threshold yet (enroll more singers or songs)")
    print(f"enrolled {added}; gallery in {result.folder}; {threshold}"
          + (f"; {len(result.failed)} songs failed" if result.failed else ""))
    return 0 if any(result.added.values()) or not result.failed else 1
