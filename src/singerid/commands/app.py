"""`singerid app`: a web page that tells who sings an uploaded or recorded song.

It shows the top singers with their probabilities, the song's timeline, and `unknown`
where the model has a calibrated gallery of singers (open set). Uploads over
--max_upload_mb and songs over --max_duration_minutes are refused with the numbers. Needs
the app extra: pip install "singerid[app]".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..app import DEFAULT_MAX_DURATION_MINUTES, DEFAULT_MAX_UPLOAD_MB
from . import command, parse


@dataclass
class AppArguments:
    model: str = field(metadata={"help": "a saved model folder (e.g. a training run's) or Hub id"})
    host: str = field(default="127.0.0.1", metadata={"help": "address to serve on (0.0.0.0: every interface)"})
    port: int | None = field(default=None, metadata={"help": "port to serve on; none given: the first free one from 7860"})
    top_k: int = field(default=5, metadata={"help": "singers shown"})
    separator: str | None = field(default=None, metadata={
        "help": "override the model's separator ('none' skips separation)"})
    demucs_repo: str | None = field(default=None, metadata={
        "help": "local demucs weights (default: demucs's caches, or a download when online)"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ... (default: cuda when available)"})
    cache_dir: str | None = field(default=None, metadata={
        "help": "separation cache (default $SINGERID_CACHE or ~/.cache/singerid)"})
    max_upload_mb: float = field(default=DEFAULT_MAX_UPLOAD_MB, metadata={
        "help": "refuse uploads larger than this, before they are stored"})
    max_duration_minutes: float = field(default=DEFAULT_MAX_DURATION_MINUTES, metadata={
        "help": "refuse songs longer than this, told from their header before they are decoded"})

    def __post_init__(self):
        if self.top_k < 1:
            raise ValueError(f"--top_k {self.top_k}: give at least 1")
        for name in ("max_upload_mb", "max_duration_minutes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name} {getattr(self, name)}: give a positive number")


@command
def main(argv: list[str] | None = None) -> int:
    args = parse(argv, AppArguments, prog="app", description=__doc__.splitlines()[0])
    from ..app import SingerIdentifier, build_app, gradio, launch

    gradio()  # the app extra is there, before the model is loaded
    identifier = SingerIdentifier(args.model, top_k=args.top_k, device=args.device, demucs_repo=args.demucs_repo,
                                  separator=args.separator, cache_dir=args.cache_dir,
                                  max_duration_minutes=args.max_duration_minutes)
    page = build_app(identifier)
    url = launch(page, host=args.host, port=args.port, max_upload_mb=args.max_upload_mb)
    print(f"singerid app: {args.model} on {url} (Ctrl+C stops)"
          + (f"; but: {identifier.problem}" if identifier.problem else ""), flush=True)
    page.block_thread()
    return 0
