"""Finetune training-step throughput: bf16 + SDPA + gradient checkpointing against the naive setup.

    python benchmarks/finetune_throughput.py [--presets mert-v1-330m,wavlm-large] [--batch-size 8]
        [--steps 10] [--warmup 3] [--device cpu|cuda] [--cpu-bf16] [--peak-tflops 989]

Both configurations train the same random-weight SingerClassifier (strategy "finetune",
CNN feature encoder frozen, Adam, cross-entropy through `labels`) on batches of 5 s clips:

- naive: fp32, eager attention, no gradient checkpointing;
- ours:  bf16 autocast (on CUDA; on CPU only with --cpu-bf16, else fp32), SDPA attention
  where the backbone has it (HuBERT/MERT; WavLM has no SDPA path and stays eager),
  gradient checkpointing of every transformer layer.

Achieved TFLOP/s = samples/s x the FLOPs of one training sample, forward and backward, as
torch's FlopCounterMode counts them on the model the row runs (`counted_flops`): MERT-330M
counts 0.87 TFLOP per 5 s sample, 56.6 GFLOP per audio second forward and 3.07x that for
the step. Model FLOPs only: the forward recomputed by gradient checkpointing is not counted.
MFU = achieved / peak of the dtype used.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import resource
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import MODEL_MAPPING

from machine import describe
from singerid import PRESETS, SingerClassifier, SingerClassifierConfig
from singerid.models.singer.backbones import preset_config

# Assumed dense peaks in TFLOP/s (vendor data sheets, no sparsity): (name fragment, bf16
# tensor cores, fp32 without tensor cores). PyTorch's fp32 matmuls do not use TF32 unless
# asked, so the naive fp32 run is measured against the plain fp32 peak. First match wins.
PEAK_TFLOPS = [
    ("H200", 989.0, 67.0),
    ("H100 PCIe", 756.0, 51.0),
    ("H100 NVL", 835.0, 60.0),
    ("H100", 989.0, 67.0),  # SXM
    ("A100", 312.0, 19.5),
]

NUM_LABELS = 20


def samples_per_second_at(mfu: float, peak: float, preset: str = "mert-v1-330m", clip_seconds: float = 5.0) -> float:
    """Training samples per second a GPU of `peak` TFLOP/s sustains at utilisation `mfu`."""
    return mfu * peak * 1e12 / counted_flops(preset, 1, clip_seconds)


def peak_for(device_name: str, bf16: bool) -> float | None:
    """The dense peak TFLOP/s of a GPU by its name (see PEAK_TFLOPS); None where unknown."""
    for fragment, bf16_peak, fp32_peak in PEAK_TFLOPS:
        if fragment.lower() in device_name.lower():
            return bf16_peak if bf16 else fp32_peak
    return None


def peak_tflops(device: torch.device, bf16: bool, given: float | None = None) -> float | None:
    if given is not None:
        return given
    return peak_for(torch.cuda.get_device_name(device), bf16) if device.type == "cuda" else None


# -- peak memory: the device's allocator on CUDA, the process's peak RSS on CPU --------------
def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # resets VmHWM (peak RSS) to the current RSS (Linux)


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    with contextlib.suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux, never reset


# -- the two configurations ------------------------------------------------------------------
def build_model(preset: str, attention: str, batch_size: int, device: torch.device, strategy: str = "finetune",
                clip_seconds: float = 5.0) -> SingerClassifier:
    encoder, rate = preset_config(preset)
    encoder.layerdrop = 0.0
    torch.manual_seed(0)
    # The attention implementation goes on the *outer* config: transformers resolves it there
    # and copies it to the encoder config, overwriting whatever the encoder config said.
    config = SingerClassifierConfig(encoder_config=encoder, strategy=strategy, sampling_rate=rate,
                                    id2label={i: f"artist_{i}" for i in range(NUM_LABELS)}, chunk_seconds=clip_seconds,
                                    chunk_batch_size=batch_size, attn_implementation=attention)
    return SingerClassifier(config).to(device).train()


def sdpa_or_eager(preset: str) -> str:
    """"sdpa" when transformers has an SDPA path for the preset's backbone class, else "eager"."""
    encoder, _ = preset_config(preset)
    return "sdpa" if MODEL_MAPPING[type(encoder)]._supports_sdpa else "eager"


def counted_flops(preset: str, batch_size: int, clip_seconds: float = 5.0, strategy: str = "finetune") -> int:
    """FLOPs of one step of `build_model(preset, ...)` on `batch_size` clips, as torch's
    FlopCounterMode counts them (matmuls, convolutions, attention): for "finetune" a training
    step, forward and backward (none through the frozen CNN); for "weighted_sum" the cache's forward
    pass (`pooled_layer_features`). Counted on the meta device: the model's shapes without its
    arithmetic or memory, so MERT-330M counts in about a second on any machine."""
    meta = torch.device("meta")
    with meta:
        model = build_model(preset, "eager", batch_size, meta, strategy=strategy, clip_seconds=clip_seconds)
        clips = torch.empty(batch_size, round(clip_seconds * model.config.sampling_rate))
    # In eval mode and backward from the logits: training's SpecAugment masks random frames and
    # the loss's backward indexes by label, values that meta tensors lack; neither holds a FLOP
    # the counter counts, nor does dropout.
    model.eval()
    with FlopCounterMode(display=False) as counter:
        if strategy == "weighted_sum":
            with torch.inference_mode():
                model.pooled_layer_features(clips)
        else:
            logits = model(clips).logits
            logits.backward(torch.ones_like(logits))
    return counter.get_total_flops()


def measure_step(preset: str, device: torch.device, *, attention: str = "eager", bf16: bool = False,
                 checkpointing: bool = False, compile_backend: str | None = None, batch_size: int = 8,
                 clip_seconds: float = 5.0, steps: int = 10, warmup: int = 3) -> dict:
    """Median training-step time of one configuration (and what it was, its peak memory and loss).
    `compile_backend`: torch.compile the model with it ("inductor", "aot_eager"); the first
    warm-up step, which compiles, is reported apart as `first_step_s`."""
    model = build_model(preset, attention, batch_size, device, clip_seconds=clip_seconds)
    if checkpointing:
        model.activation_checkpointing_enable()
    forward = torch.compile(model, backend=compile_backend) if compile_backend else model
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    rate = model.config.sampling_rate
    generator = torch.Generator().manual_seed(1)
    clips = (0.1 * torch.randn(batch_size, round(clip_seconds * rate), generator=generator)).to(device)
    labels = torch.randint(NUM_LABELS, (batch_size,), generator=generator).to(device)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = forward(clips, labels=labels).loss
        loss.backward()
        optimizer.step()
        return loss.item()  # also waits for the device

    reset_peak_memory(device)
    times = []
    for _ in range(warmup + steps):
        started = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - started)
    step_s = statistics.median(times[warmup:])
    result = {
        "preset": preset, "attention": model.backbone.config._attn_implementation,
        "dtype": "bf16 autocast" if bf16 else "fp32", "checkpointing": checkpointing, "compile": compile_backend,
        "batch_size": batch_size, "clip_seconds": clip_seconds, "first_step_s": times[0], "step_s": step_s,
        "samples_per_s": batch_size / step_s, "memory_gib": peak_memory_gib(device), "loss": loss,
    }
    del model, forward, optimizer, clips
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def run_configuration(args, preset: str, name: str, device: torch.device) -> dict:
    optimized = name == "ours"
    bf16 = optimized and (device.type == "cuda" or args.cpu_bf16)
    result = measure_step(preset, device, attention=sdpa_or_eager(preset) if optimized else "eager", bf16=bf16,
                          checkpointing=optimized, batch_size=args.batch_size, clip_seconds=args.clip_seconds,
                          steps=args.steps, warmup=args.warmup)
    return dict(result, config=name, peak=peak_tflops(device, bf16, args.peak_tflops))


def print_rows(args, preset: str, rows: list[dict]) -> None:
    per_sample = counted_flops(preset, args.batch_size, args.clip_seconds) / args.batch_size
    naive = rows[0]
    for row in rows:
        samples_per_s = row["samples_per_s"]
        achieved = samples_per_s * per_sample / 1e12
        tflops = f"{achieved:.3g}"
        mfu = f"{100 * achieved / row['peak']:.1f}%" if row["peak"] else "n/a"
        speedup = f"{naive['step_s'] / row['step_s']:.2f}×"
        memory = f"{row['memory_gib']:.2f} ({row['memory_gib'] / naive['memory_gib']:.2f}×)"
        print(f"{preset:<14}{row['config']:<7}{row['attention']:<7}{row['dtype']:<15}"
              f"{'yes' if row['checkpointing'] else 'no':<6}{row['step_s']:>9.3g}{samples_per_s:>11.3g}"
              f"{speedup:>9}{memory:>17}{tflops:>9}{mfu:>8}{row['loss']:>8.3f}")


def main() -> None:
    on_cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="mert-v1-330m,wavlm-large",
                        help=f"comma-separated, from {', '.join(PRESETS)}")
    parser.add_argument("--device", default="cuda" if on_cuda else "cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="clips per step (default 8 on CUDA, 2 on CPU)")
    parser.add_argument("--clip-seconds", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 10 on CUDA, 2 on CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3 on CUDA, 1 on CPU)")
    parser.add_argument("--cpu-bf16", action="store_true", help="on CPU, use bf16 autocast in 'ours' too")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="peak TFLOP/s for MFU, used for every row (default: looked up by CUDA device name)")
    args = parser.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    args.batch_size = args.batch_size or (8 if cuda else 2)
    args.steps = args.steps or (10 if cuda else 2)
    args.warmup = args.warmup if args.warmup is not None else (3 if cuda else 1)

    print(describe(device))
    print(f"finetune steps: batch {args.batch_size} x {args.clip_seconds:g} s clips, Adam, median of {args.steps} "
          f"steps after {args.warmup} warm-up, device {device}")
    print("TFLOP/s = samples/s x FLOPs of a training sample, forward and backward, counted by FlopCounterMode "
          "(checkpointing's recompute not counted); MFU against the peak of the row's dtype"
          + (f" ({args.peak_tflops:g} TFLOP/s given)" if args.peak_tflops else " (n/a where unknown)"))
    memory_kind = "GiB alloc" if cuda else "GiB RSS"
    print()
    print(f"{'preset':<14}{'config':<7}{'attn':<7}{'dtype':<15}{'ckpt':<6}{'step s':>9}{'samples/s':>11}"
          f"{'speed-up':>9}{memory_kind:>17}{'TFLOP/s':>9}{'MFU':>8}{'loss':>8}")
    for preset in args.presets.split(","):
        rows = [run_configuration(args, preset, name, device) for name in ("naive", "ours")]
        print_rows(args, preset, rows)
        if rows[1]["attention"] == "eager":
            print(f"{'':<14}(no SDPA path for this backbone in transformers: 'ours' stays eager)")


if __name__ == "__main__":
    main()
