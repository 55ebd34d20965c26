"""`singerid space`: a trained model's page as a Hugging Face Space, pushed, or written
with --output for review. The Space serves the page `singerid app` serves, sized for free
CPU hardware (see singerid.hub.space). The Hub address and token are huggingface_hub's:
HF_ENDPOINT, HF_TOKEN or `hf auth login`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field

from ..hub.space import SPACE_HARDWARE
from . import OutputOptions, claim, command, parse


@dataclass
class SpaceArguments:
    model: str = field(metadata={"help": "a training run's folder (bundled into the Space) or a Hub model id "
                                         "(loaded at its current revision, not copied)"})
    space_id: str | None = field(default=None, metadata={"help": "the Space to push, USER/NAME"})
    private: bool = field(default=False, metadata={"help": "create a private Space"})
    hardware: str = field(default=SPACE_HARDWARE, metadata={"help": "the Space's hardware, e.g. cpu-basic"})
    output: str | None = field(default=None, metadata={"help": "write the Space's folder here, without pushing"})

    def __post_init__(self):
        if not self.space_id and not self.output:
            raise ValueError("give --space-id USER/NAME to push the Space, or --output DIR to write it for review")


@command
def main(argv: list[str] | None = None) -> int:
    args, output = parse(argv, SpaceArguments, OutputOptions, prog="space", description=__doc__.splitlines()[0])
    from ..hub.space import build_space, push_space

    if args.output:
        folder = build_space(args.model, claim(args.output, "space", argv, output), args.space_id)
        print(f"Space for {args.model} written to {folder}; push it with --space-id and no --output")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        build_space(args.model, scratch, args.space_id)
        space_id = push_space(scratch, args.space_id, private=args.private, hardware=args.hardware)
    print(f"Space pushed to {space_id}")
    return 0
