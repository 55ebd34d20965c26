"""`singerid make_demo_corpus --out DIR`: the synthetic demo corpus, in the artist20 layout.

Songs land in `DIR/<artist>/<album>/<NN-title>.flac`, the isolated vocals and the spans
where they sing under `DIR/_stems`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from . import OutputOptions, claim, command, parse


@dataclass
class CorpusArguments:
    out: str = field(metadata={"help": "output folder"})
    seed: int = field(default=0, metadata={"help": "random seed"})
    singers: int = field(default=6, metadata={"help": "number of singers, one artist folder each"})
    albums: int = field(default=6, metadata={"help": "albums per singer"})
    songs: int = field(default=3, metadata={"help": "songs per album"})
    seconds: float = field(default=25.0, metadata={"help": "mean song length; each song lasts 0.8x to 1.2x this"})
    sampling_rate: int = field(default=44100, metadata={"help": "sampling rate of the files"})
    channels: int = field(default=2, metadata={"help": "channels of the files"})

    def __post_init__(self):
        from ..recipes.demo_corpus import check_arguments

        try:
            check_arguments(self.singers, self.albums, self.songs, self.seconds, self.sampling_rate, self.channels,
                            self.seed)
        except ValueError as error:
            raise ValueError(f"--{error}") from None  # the message starts with the option's name


@command
def main(argv: list[str] | None = None) -> int:
    args, output = parse(argv, CorpusArguments, OutputOptions, prog="make_demo_corpus",
                         description=__doc__.splitlines()[0])
    claim(args.out, "make_demo_corpus", argv, output)
    from ..recipes.demo_corpus import corpus_size, synthesize_corpus

    start = time.perf_counter()
    songs = synthesize_corpus(args.out, seed=args.seed, singers=args.singers, albums=args.albums, songs=args.songs,
                              seconds=args.seconds, sampling_rate=args.sampling_rate, channels=args.channels)
    seconds, song_mb, stem_mb = corpus_size(songs, args.out)
    print(f"wrote {len(songs)} songs ({seconds:.0f} s of audio) to {args.out}: {song_mb:.1f} MB of songs + "
          f"{stem_mb:.1f} MB of stems, in {time.perf_counter() - start:.1f} s")
    return 0
