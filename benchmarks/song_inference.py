"""Whole-song inference: chunks batched inside the model against a Python loop over chunks.

    python benchmarks/song_inference.py [--preset tiny-mert] [--seconds 180] [--repeats 3]
        [--chunk-batch 8] [--strategy weighted_sum|finetune] [--device cpu|cuda] [--bf16]

Our path is one `model(song)` call: the model cuts the song into 5 s chunks and runs
`chunk_batch_size` of them per backbone call. The naive path loops in Python, one
`model.chunk_logits` call per chunk (cut the same way, `singerid.models.singer.segments.plan_segments`),
and averages the chunk probabilities. Both must give the same song probabilities.

Random weights (nothing is downloaded): the architecture is built from the preset's config.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from machine import describe
from singerid import PRESETS, SingerClassifier, SingerClassifierConfig
from singerid.models.singer.backbones import preset_config
from singerid.models.singer.segments import plan_segments


def build_model(args, device: torch.device) -> SingerClassifier:
    encoder, rate = preset_config(args.preset)
    encoder.layerdrop = 0.0
    torch.manual_seed(0)
    config = SingerClassifierConfig(encoder_config=encoder, strategy=args.strategy, sampling_rate=rate,
                                    id2label={i: f"artist_{i}" for i in range(20)}, chunk_seconds=5.0,
                                    chunk_batch_size=args.chunk_batch)
    model = SingerClassifier(config)
    # A freshly initialised head gives nearly uniform probabilities, which would make the
    # comparison below vacuous: scale its last layer up so classes differ clearly.
    last_linear = [module for module in model.head.modules() if isinstance(module, torch.nn.Linear)][-1]
    with torch.no_grad():
        last_linear.weight.mul_(30.0)
    return model.to(device).eval()


def make_song(seconds: float, rate: int) -> torch.Tensor:
    """`[1, samples]`: a tone whose pitch jumps every second, over noise, so chunks differ."""
    generator = torch.Generator().manual_seed(1)
    samples = round(seconds * rate)
    pitches = 100.0 + 1900.0 * torch.rand(int(seconds) + 1, generator=generator)
    frequency = pitches.repeat_interleave(rate)[:samples]
    phase = torch.cumsum(2 * torch.pi * frequency / rate, dim=0)
    return (0.3 * torch.sin(phase) + 0.05 * torch.randn(samples, generator=generator)).unsqueeze(0)


def batched_song_probs(model: SingerClassifier, song: torch.Tensor) -> torch.Tensor:
    """Our path: one call; the model cuts and batches the chunks."""
    return model(song).logits.float().softmax(-1)[0]


def looped_song_probs(model: SingerClassifier, song: torch.Tensor) -> torch.Tensor:
    """The naive path: one backbone call per 5 s chunk, probabilities averaged in Python."""
    config = model.config
    rate = config.sampling_rate
    length = round(config.chunk_seconds * rate)
    hop, min_tail = round(config.chunk_hop_seconds * rate), round(config.min_chunk_seconds * rate)
    wave = song[0]
    probs = []
    for start, end in plan_segments(len(wave), length, hop, min_tail):
        piece = wave[start:min(end, len(wave))]
        chunk = torch.nn.functional.pad(piece, (0, length - len(piece))).unsqueeze(0)
        mask = (torch.arange(length, device=wave.device) < len(piece)).long().unsqueeze(0)
        probs.append(model.chunk_logits(chunk, mask).float().softmax(-1)[0])
    return torch.stack(probs).mean(0)


def timed(function, *args, device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    result = function(*args)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny-mert", choices=sorted(PRESETS))
    parser.add_argument("--strategy", default="weighted_sum", choices=["weighted_sum", "finetune"])
    parser.add_argument("--seconds", type=float, default=180.0, help="song length")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each path (median reported)")
    parser.add_argument("--chunk-batch", type=int, default=8, help="chunks per backbone call (our path)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (meant for CUDA; works on CPU too)")
    parser.add_argument("--atol", type=float, default=None,
                        help="allowed probability difference (default 1e-4 in fp32, 2e-2 with --bf16)")
    args = parser.parse_args()
    device = torch.device(args.device)
    atol = args.atol if args.atol is not None else (2e-2 if args.bf16 else 1e-4)

    model = build_model(args, device)
    rate = model.config.sampling_rate
    song = make_song(args.seconds, rate).to(device)
    length = round(model.config.chunk_seconds * rate)
    chunks = len(plan_segments(song.shape[-1], length, round(model.config.chunk_hop_seconds * rate),
                               round(model.config.min_chunk_seconds * rate)))
    batch_calls = -(-chunks // max(1, args.chunk_batch))
    dtype = "bf16 autocast" if args.bf16 else "fp32"

    print(describe(device))
    print(f"{args.preset} ({args.strategy}), {args.seconds:g} s song at {rate} Hz = {chunks} chunks of "
          f"{model.config.chunk_seconds:g} s, {dtype}, device {device}, inference_mode, median of {args.repeats}")

    paths = {
        f"batched: model(song), {args.chunk_batch} chunks/call ({batch_calls} calls)": batched_song_probs,
        f"loop: chunk_logits per chunk ({chunks} calls)": looped_song_probs,
    }
    times = {name: [] for name in paths}
    results = {}
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)
    with torch.inference_mode(), autocast:
        for name, function in paths.items():  # warm-up (and the results compared below)
            results[name] = timed(function, model, song, device=device)[1]
        for _ in range(args.repeats):  # alternate the paths so drifts hit both alike
            for name, function in paths.items():
                times[name].append(timed(function, model, song, device=device)[0])

    ours, naive = (results[name] for name in paths)
    difference = (ours - naive).abs().max().item()
    torch.testing.assert_close(ours, naive, rtol=0, atol=atol)
    print(f"same song probabilities: max |difference| {difference:.2e} (allowed {atol:g}); "
          f"probabilities span {ours.min().item():.3f}-{ours.max().item():.3f}, "
          f"top class {ours.argmax().item()} vs {naive.argmax().item()}")

    print()
    print(f"{'path':<50}{'s per song':>12}{'audio s / s':>13}{'speed-up':>10}")
    naive_time = statistics.median(times[list(paths)[1]])
    for name in paths:
        seconds = statistics.median(times[name])
        print(f"{name:<50}{seconds:>12.3f}{args.seconds / seconds:>13.1f}{naive_time / seconds:>9.2f}×")


if __name__ == "__main__":
    main()
