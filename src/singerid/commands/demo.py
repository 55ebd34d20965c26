"""`singerid demo` (`make demo`): the main job end to end on the embedded demo corpus, offline.

demo corpus → preprocess → train weighted_sum, then finetune → evaluate the test album →
predict every held-out test song from its file (see singerid.recipes.demo).
"""

from __future__ import annotations

from pathlib import Path

from ..recipes.demo import DemoOptions, TestSong, run_demo
from ..reports import format_metrics
from . import OutputOptions, claim, command, parse


@command
def main(argv: list[str] | None = None) -> int:
    options, output = parse(argv, DemoOptions, OutputOptions, prog="demo", description=__doc__.splitlines()[0])
    claim(options.output, "demo", argv, output)
    result = run_demo(options, step=print)
    output = Path(options.output)
    print(f"\ndemo finished in {result.seconds:.0f} s (backbone {options.backbone}, vocals: {result.vocals})")
    for strategy, values in result.metrics.items():
        print(f"\n{strategy}:\n{format_metrics(values)}")
    songs, strategy = result.test_songs, next(iter(result.metrics))
    print(f"\n{strategy} through predict_songs (as `singerid predict`) on the {len(songs)} test songs: "
          f"song top-1 {result.song_top1:.3f} ({sum(song.right for song in songs)} of {len(songs)})")
    show_ranking(songs[0], "the first test song in file order")
    print(f"\noutputs: {output / 'dataset'} (dataset), " + ", ".join(str(output / s) for s in result.metrics)
          + f" (models, metrics.json, confusion matrices), {output / 'evaluation'}")
    return 0


def show_ranking(song: TestSong, chosen: str, top: int = 3) -> None:
    """The song's top singers, and the true one wherever it ranks, marked; then right or wrong."""
    print(f"\n{chosen}, {song.path} (sung by {song.singer}):")
    prediction = song.prediction
    if prediction.error:
        print(f"  not predicted: {prediction.error}")
        return
    for rank, (label, score) in enumerate(zip(prediction.labels, prediction.scores), start=1):
        if rank <= top or label == song.singer:
            print(f"  {rank}. {label:<16} {score:.3f}" + ("  ← the true singer" if label == song.singer else ""))
    print("  right: the true singer ranks first" if song.right else f"  wrong: {prediction.labels[0]} ranks first")
