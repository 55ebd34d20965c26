"""`singerid demo` (`make demo`): the main job end to end on the embedded demo corpus, offline.

demo corpus → preprocess → train weighted_sum, then finetune → evaluate the test album →
classify one held-out song with the audio-classification pipeline (see singerid.recipes.demo).
"""

from __future__ import annotations

from pathlib import Path

from ..recipes.demo import DemoOptions, run_demo
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
    print(f"\npipeline on {result.song}:")
    for row in result.answer:
        print(f"  {row['label']:<16} {row['score']:.3f}")
    print(f"\noutputs: {output / 'dataset'} (dataset), " + ", ".join(str(output / s) for s in result.metrics)
          + f" (models, metrics.json, confusion matrices), {output / 'evaluation'}")
    return 0
