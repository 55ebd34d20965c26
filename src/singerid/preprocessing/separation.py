"""Vocal separation with demucs, one song at a time, memory bounded on long songs."""

from __future__ import annotations

import contextlib
import io
import math
import re
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..digests import weights_digest
from ..errors import SingeridError, one_line
from .config import NO_SEPARATOR


# How much demucs's segments overlap (it blends them where they do).
OVERLAP = 0.25


class SeparatorUnavailable(SingeridError):
    """The separator's weights cannot be had (offline, or a wrong local repo)."""


REMEDIES = "Pass --demucs-repo DIR with local weights, or --separator none to skip separation."
# A demucs model name, as a file may give it: demucs reads a name with a `/` or `hf://` as a
# Hub repository whose metadata names a class to call, so a name from a file is checked.
SEPARATOR_NAME = re.compile(r"[A-Za-z0-9_]+")


class UntrustedSeparator(SingeridError):
    """A separator named by a file (a model's config) that singerid will not load on its word."""


def published_separators() -> frozenset[str]:
    """demucs's own published models: the bags in its `remote/` folder (htdemucs, mdx_extra, ...)."""
    from demucs import pretrained

    return frozenset(path.stem for path in Path(pretrained.REMOTE_ROOT).glob("*.yaml"))


def check_recorded_separator(name: str, source: str, demucs_repo: str | Path | None = None) -> None:
    """Refuse a separator name read from a file (`source` names it) unless it is a plain
    demucs name and, without a local `demucs_repo`, one of demucs's published models or none:
    a downloaded model must never make singerid fetch and run code. A `--separator` typed by
    the user is not checked: it is the user's own choice."""
    if name.lower() == NO_SEPARATOR:
        return
    if not SEPARATOR_NAME.fullmatch(name):
        raise UntrustedSeparator(f"{source}: separator {name!r} is not a demucs model name (letters, digits and _ "
                                 f"only; never a repository or a path). {REMEDIES}")
    published = published_separators()
    if demucs_repo is None and name not in published:
        raise UntrustedSeparator(f"{source}: separator {name!r} is not one of demucs's published models "
                                 f"({', '.join(sorted(published))}). {REMEDIES}")


def save_to_local_repo(model, repo: str | Path, name: str) -> Path:
    """Save a demucs model where `VocalSeparator(name, repo=repo)` finds it: demucs's
    local-repo format, a `<signature>-<sha256[:8]>.th` package and a `<name>.yaml` bag."""
    import hashlib
    import io

    import torch

    args, kwargs = model._init_args_kwargs  # recorded by demucs's @capture_init
    package = {"klass": type(model), "args": args, "kwargs": kwargs,
               "state": model.state_dict(), "training_args": {}}
    buffer = io.BytesIO()
    torch.save(package, buffer)
    checksum = hashlib.sha256(buffer.getvalue()).hexdigest()[:8]
    signature = hashlib.sha256(name.encode()).hexdigest()[:8]
    repo = Path(repo)
    repo.mkdir(parents=True, exist_ok=True)
    (repo / f"{signature}-{checksum}.th").write_bytes(buffer.getvalue())
    (repo / f"{name}.yaml").write_text(f"models: ['{signature}']\n")
    return repo


def weights_cached(name: str) -> bool:
    """Whether demucs model `name` loads without the network: its files are in the
    Hugging Face cache, or in torch's hub cache where demucs's legacy download puts them."""
    import torch
    import yaml
    from demucs import hf, pretrained
    from huggingface_hub import try_to_load_from_cache

    repo_id = f"{hf.DEFAULT_NAMESPACE}/{hf.hf_repo_name(name)}"
    if isinstance(try_to_load_from_cache(repo_id, f"{name}.yaml"), str):
        return True
    bag = Path(pretrained.REMOTE_ROOT, f"{name}.yaml")
    if not bag.is_file():
        return False
    files = Path(pretrained.REMOTE_ROOT, "files.txt").read_text().split()
    checkpoints = Path(torch.hub.get_dir(), "checkpoints")
    signatures = yaml.safe_load(bag.read_text())["models"]
    return all(any((checkpoints / file).is_file() for file in files if file.startswith(f"{sig}-"))
               for sig in signatures)


def half_dtype(device: str) -> str:
    """The dtype half-precision separation runs in on `device`: float16 on CUDA (tensor
    cores; more mantissa than bfloat16), bfloat16 on the CPU (autocast's fast CPU kernels
    are bfloat16; float16 there is emulated and slower)."""
    return "bfloat16" if device.split(":")[0] == "cpu" else "float16"


class VocalSeparator:
    """Separates the vocal stem of a mixture with a demucs model.

    `name` is a demucs model name ("htdemucs", "htdemucs_ft", "mdx_extra", ...).
    With `repo`, the weights come from a local folder in demucs's repo format
    (`<signature>-<checksum>.th` files and `<name>.yaml` bags); otherwise from the
    demucs/Hugging Face caches, or a download when online.

    With `half`, demucs's windows run under autocast in `half_dtype(device)`. The stems stay
    float32, and the weights digest is the same: half is how the weights run, not what they
    are. Off by default until its speed and fidelity are measured on real weights
    (benchmarks/separation_sdr.py).
    """

    def __init__(self, name: str = "htdemucs", repo: str | Path | None = None, device: str | None = None,
                 segment_seconds: float | None = None, half: bool = False):
        import torch
        from demucs.pretrained import get_model
        from huggingface_hub import constants

        if repo is None and constants.HF_HUB_OFFLINE and not weights_cached(name):
            raise SeparatorUnavailable(f"demucs model {name!r}: its weights are not in the demucs or Hugging Face "
                                       f"caches, and the Hub is off (HF_HUB_OFFLINE=1). {REMEDIES}")
        messages = io.StringIO()
        try:
            # demucs reports some failures by printing and calling sys.exit: keep both in here.
            with contextlib.redirect_stderr(messages):
                self.model = get_model(name, repo=Path(repo) if repo else None)
        except (Exception, SystemExit) as error:
            where = f"local repo {repo}" if repo else "the demucs and Hugging Face caches (or a download)"
            reason = (messages.getvalue().strip().replace("\n", " ") or one_line(error)).rstrip(".")
            raise SeparatorUnavailable(f"cannot load demucs model {name!r} from {where}: {reason}. {REMEDIES}") from None
        self.model.eval()
        if "vocals" not in self.model.sources:
            raise SeparatorUnavailable(f"demucs model {name!r} has no 'vocals' source: {self.model.sources}")
        self.name = name
        self.weights = "sha256:" + weights_digest(self.model)[:16]  # what the weights are, wherever they came from
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.segment_seconds = segment_seconds
        self.half = half
        self.sampling_rate: int = self.model.samplerate
        self.channels: int = self.model.audio_channels

    @property
    def dtype(self) -> str:
        """What demucs computes in: "float32", or with `half` the device's half dtype."""
        return half_dtype(self.device) if self.half else "float32"

    def vocals(self, mix: np.ndarray) -> np.ndarray:
        """The vocal stem `[channels, samples]` of a mixture at `self.sampling_rate`."""
        return self.vocals_batch([mix])[0]

    def vocals_batch(self, mixes: list[np.ndarray]) -> list[np.ndarray]:
        """Vocal stems of several mixtures in one pass.

        Each song is normalised by its own mono statistics, as demucs expects, then
        zero-padded to the longest. demucs's windows sit at the same offsets for every
        song, so a stem equals the one-at-a-time stem up to its last window, whose context
        demucs takes differently in a longer tensor.
        """
        import torch

        waves = [torch.from_numpy(np.ascontiguousarray(mix, dtype=np.float32)) for mix in mixes]
        stats = [(wave.mean(0).mean(), wave.mean(0).std().clamp_min(1e-8)) for wave in waves]
        batch = torch.zeros(len(waves), self.channels, max(wave.shape[-1] for wave in waves))
        for row, (wave, (mean, std)) in enumerate(zip(waves, stats)):
            batch[row, :, : wave.shape[-1]] = (wave - mean) / std
        vocals = self._separated(batch)
        return [(vocals[row, :, : wave.shape[-1]] * std + mean).numpy()
                for row, (wave, (mean, std)) in enumerate(zip(waves, stats))]

    def vocals_windows(self, mixes: Callable[[], Iterable[np.ndarray]], window_seconds: float) -> Iterator[np.ndarray]:
        """The vocal stem of one song `[channels, samples]`, block by block, from its mix read
        twice: `mixes()` gives the song's `[channels, samples]` windows afresh each time.

        The first pass takes the song's mono mean and deviation (the normalisation
        `vocals_batch` applies). The second separates blocks of about `window_seconds`, each
        with a margin of whole demucs segments on both sides, on demucs's own grid of
        segments: every segment that reaches into a block lies whole in what is separated,
        and demucs blends them as it does in the whole song. A block's stem is therefore
        the whole song's, and memory holds a block, not the song."""
        import torch

        mean, std = (torch.tensor(value, dtype=torch.float32) for value in _mono_statistics(mixes()))
        unit, margin = self._grid()
        block = max(1, round(window_seconds * self.sampling_rate / unit)) * unit
        source, ended = iter(mixes()), False
        buffer, start, done = np.zeros((self.channels, 0), dtype=np.float32), 0, 0  # buffer[:, 0] is sample `start`
        while True:
            while not ended and start + buffer.shape[-1] < done + block + margin:
                window = next(source, None)
                ended = window is None
                if not ended:
                    buffer = np.concatenate([buffer, window], axis=-1)
            end = start + buffer.shape[-1]
            if done >= end:
                return
            low, high = max(0, done - margin), min(end, done + block + margin)
            # Up to the song's end when the block reaches it: no segment past it is missing.
            keep = end if ended and high == end else done + block
            wave = torch.from_numpy(np.ascontiguousarray(buffer[:, low - start : high - start]))
            stem = self._separated(((wave - mean) / std)[None])[0, :, done - low : keep - low]
            yield (stem * std + mean).numpy()
            done = keep
            buffer, start = buffer[:, max(0, done - margin) - start :], max(0, done - margin)

    def _grid(self) -> tuple[int, int]:
        """demucs's segment grid in samples: a step every segment start lies on (for each
        model of the bag), and the whole steps that cover the longest segment."""
        from demucs.apply import BagOfModels

        unit, longest = 1, 0
        for model in self.model.models if isinstance(self.model, BagOfModels) else [self.model]:
            length = int(model.samplerate * (self.segment_seconds or model.segment))
            unit, longest = math.lcm(unit, int((1 - OVERLAP) * length)), max(longest, length)
        return unit, math.ceil(longest / unit) * unit

    def _separated(self, batch):
        """The vocal stems `[songs, channels, samples]` of normalised mixes `[songs, channels, samples]`."""
        import torch
        from demucs.apply import apply_model

        device = torch.device(self.device)
        half = getattr(torch, half_dtype(self.device))
        with torch.inference_mode(), torch.autocast(device.type, dtype=half, enabled=self.half):
            # The songs stay on the CPU; only split windows of `segment` seconds go to the
            # device, which bounds device memory however long the songs are. No random
            # shifts, so a rerun gives the same stems.
            sources = apply_model(self.model, batch, shifts=0, split=True, overlap=OVERLAP,
                                  device=device, segment=self.segment_seconds, progress=False)
        return sources[:, self.model.sources.index("vocals")].float()


def _mono_statistics(windows: Iterable[np.ndarray]) -> tuple[float, float]:
    """The mean and standard deviation (n - 1, as torch's) of a song's mono downmix, from
    its `[channels, samples]` windows, merged window by window (Chan et al.) in float64."""
    count, mean, squares = 0, 0.0, 0.0
    for window in windows:
        mono = window.mean(axis=0, dtype=np.float32).astype(np.float64)
        if not len(mono):
            continue
        delta = mono.mean() - mean
        total = count + len(mono)
        squares += ((mono - mono.mean()) ** 2).sum() + delta ** 2 * count * len(mono) / total
        mean += delta * len(mono) / total
        count = total
    return mean, max(math.sqrt(squares / max(1, count - 1)), 1e-8)
