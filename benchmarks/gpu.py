"""Every figure the README's GPU table needs, in one command, and the time to the whole
artist20 table they imply.

    python benchmarks/gpu.py [--json gpu.json] [--reduced] [--rows finetune_eager,separation,...]
        [--peak-tflops 989]

On a CUDA machine (sized for under 8 minutes, not yet timed on one; random weights in the real
architectures):
- MERT-330M finetune, bf16 autocast, batch 24 x 5 s: samples/s, TFLOP/s and MFU with eager
  attention, SDPA, and SDPA under torch.compile; WavLM-Large eager (it has no SDPA path);
  the FLOPs are those of the model run, counted by torch's FlopCounterMode (forward and
  backward of one training step), MFU against the GPU's dense bf16 peak;
- weighted-sum feature extraction (the cached forward pass), segments/s and TFLOP/s;
- the training data loader, segments/s with 0 and N workers, next to the finetune rate;
- htdemucs separation, x real time, one song at a time and batched, fp32 and half, and the
  SNR of the half stems against the fp32 ones;
- decoding (mp3) and silence detection, audio seconds per second, 1 worker and all cores;
- predict_songs end to end (decode, separate, remove silence, classify), songs/s;
then the estimated hours to the whole artist20 table on one GPU, stage by stage.

Without CUDA, or with --reduced, the same rows run small (tiny presets, tiny htdemucs, short
audio, few steps) in well under a minute: a check that the command works, not a forecast.

Each row runs on its own: a row whose module is missing is reported as skipped, with the
reason, and a row that fails for another reason as failed, with its one-line error; the others
still run. On the bare GPU box (bare_box.py: torch, transformers, accelerate, pyarrow, numpy,
and demucs carried there) the model and separation rows run; decoding, silence detection, the
loader and predict_songs also need soundfile (and torchcodec, unsilence, datasets: carry them).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib.metadata
import importlib.util
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
import torch

if importlib.util.find_spec("singerid") is None:  # a bare box with the repository but no install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bare_box import BARE_BOX
from finetune_throughput import build_model, counted_flops, measure_step, peak_tflops, sdpa_or_eager
from machine import describe
from preprocess_throughput import print_table

# -- what the artist20 table costs (DESIGN.md, "The reference we reproduce") ------------------
ARTIST20_HOURS = 94  # of 16 kHz mono mp3, 1,413 songs
KEPT_AFTER_CLEANING = 0.7  # share of the audio left once silence is removed
SONGS = {"train": 929, "validation": 240, "test": 244}  # the album split
FINETUNE_SEGMENTS = 40_000  # 5 s training segments of one finetune run (vocals or raw)
FINETUNE_EPOCHS = 10
SEGMENT_SECONDS = 5.0


@dataclass(frozen=True)
class Plan:
    """The sizes of every measurement: FULL on a CUDA machine, REDUCED for a quick check; and
    the peak TFLOP/s that MFU is taken against (None: looked up by the CUDA device's name)."""
    mert: str
    wavlm: str
    batch_size: int
    clip_seconds: float
    steps: int
    warmup: int
    compile_backend: str
    feature_batches: int
    loader_segments: int
    separation_songs: int
    separation_seconds: float
    repeats: int
    tiny_htdemucs: bool
    pool_files: int
    pool_seconds: float
    predict_songs: int
    peak_tflops: float | None = None


FULL = Plan(mert="mert-v1-330m", wavlm="wavlm-large", batch_size=24, clip_seconds=5.0, steps=10, warmup=3,
            compile_backend="inductor", feature_batches=20, loader_segments=768, separation_songs=8,
            separation_seconds=30.0, repeats=2, tiny_htdemucs=False, pool_files=32, pool_seconds=30.0,
            predict_songs=8)
# aot_eager: dynamo and AOTAutograd trace the step as inductor would, without compiling C++.
REDUCED = Plan(mert="tiny-mert", wavlm="tiny-wavlm", batch_size=4, clip_seconds=1.0, steps=2, warmup=1,
               compile_backend="aot_eager", feature_batches=2, loader_segments=48, separation_songs=2,
               separation_seconds=3.0, repeats=1, tiny_htdemucs=True, pool_files=4, pool_seconds=6.0,
               predict_songs=2)

SONG_RATE = 16000  # artist20's mp3s
MODEL_RATE = 24000  # MERT's, which silence detection and the raw corpus work at


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def packages() -> dict[str, str | None]:
    """The version of each of the bare box's packages here; None where it is missing."""
    versions = {}
    for name in BARE_BOX:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- synthetic songs ----------------------------------------------------------------------------
def song_wave(seconds: float, rate: int, seed: int) -> np.ndarray:
    """A tone whose pitch jumps every half second over faint noise, silent for 1 s in every 8."""
    rng = np.random.default_rng(seed)
    samples = round(seconds * rate)
    pitches = rng.uniform(100.0, 1000.0, int(2 * seconds) + 1).repeat(rate // 2)[:samples]
    wave = 0.3 * np.sin(np.cumsum(2 * np.pi * pitches / rate)) + 0.003 * rng.standard_normal(samples)
    t = np.arange(samples) / rate
    wave[(t % 8.0) >= 7.0] = 0.0
    return wave.astype(np.float32)


@cache
def song_files(plan: Plan) -> list[Path]:
    """mp3 songs at 16 kHz mono, as artist20's, written once per run (torchcodec's encoder)."""
    from torchcodec.encoders import AudioEncoder

    folder = Path(tempfile.mkdtemp(prefix="singerid-gpu-songs-"))
    atexit.register(shutil.rmtree, folder, True)
    paths = []
    for index in range(plan.pool_files):
        path = folder / f"song{index:02d}.mp3"
        wave = song_wave(plan.pool_seconds, SONG_RATE, index)
        AudioEncoder(torch.from_numpy(wave)[None], sample_rate=SONG_RATE).to_file(str(path))
        paths.append(path)
    return paths


# -- CPU stages in a process pool -------------------------------------------------------------
def _decode_job(path: Path) -> float:
    from singerid.audio import load_mono

    return len(load_mono(path, MODEL_RATE)) / MODEL_RATE


def _silence_job(wave: np.ndarray) -> float:
    from singerid.preprocessing.silence import audible_intervals

    audible_intervals(wave, MODEL_RATE)
    return len(wave) / MODEL_RATE


def _start_worker(_) -> None:
    time.sleep(0.2)  # long enough that every worker gets one


def pool_rates(job, items: list) -> dict:
    """Audio seconds per wall second of `job` over `items` with 1 worker and with all cores."""
    # fork is cheap but unsafe once CUDA is up (describe() starts it on a GPU box); spawn's
    # slower start-up happens before the timing.
    context = multiprocessing.get_context("spawn" if torch.cuda.is_initialized() else "fork")
    rates = {}
    for workers in sorted({1, cores()}):
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            list(pool.map(_start_worker, range(workers)))  # started before timing
            list(pool.map(job, items[:workers]))  # and their imports done
            started = time.perf_counter()
            audio = sum(pool.map(job, items))
            rates[f"{workers} worker{'s' if workers > 1 else ''}"] = audio / (time.perf_counter() - started)
    return rates


def rates_text(rates: dict, unit: str) -> str:
    return ", ".join(f"{value:,.0f} {unit} ({name})" for name, value in rates.items())


def row_decode(plan: Plan, device: torch.device, results: dict) -> dict:
    import torchcodec  # noqa: F401  (load_mono's decoder; imported here so a missing one skips the row)

    files = song_files(plan)
    rates = pool_rates(_decode_job, files)
    return {"audio_s_per_s": rates, "result": rates_text(rates, "audio s/s"),
            "detail": f"{len(files)} mp3 songs of {plan.pool_seconds:g} s, 16 kHz mono -> {MODEL_RATE} Hz (load_mono)"}


def row_silence(plan: Plan, device: torch.device, results: dict) -> dict:
    import soundfile  # noqa: F401
    import unsilence  # noqa: F401

    waves = [song_wave(plan.pool_seconds, MODEL_RATE, index) for index in range(plan.pool_files)]
    rates = pool_rates(_silence_job, waves)
    return {"audio_s_per_s": rates, "result": rates_text(rates, "audio s/s"),
            "detail": f"audible_intervals at -35 dB on {len(waves)} waves of {plan.pool_seconds:g} s at {MODEL_RATE} Hz"}


# -- model rows ---------------------------------------------------------------------------------
def finetune_row(plan: Plan, device: torch.device, preset: str, attention: str, compile_backend: str | None = None):
    result = measure_step(preset, device, attention=attention, bf16=True, compile_backend=compile_backend,
                          batch_size=plan.batch_size, clip_seconds=plan.clip_seconds, steps=plan.steps,
                          warmup=plan.warmup)
    per_sample = counted_flops(preset, plan.batch_size, plan.clip_seconds) / plan.batch_size
    tflops = result["samples_per_s"] * per_sample / 1e12
    peak = peak_tflops(device, bf16=True, given=plan.peak_tflops)
    mfu = tflops / peak if peak else None
    compiled = f", first (compiling) step {result['first_step_s']:.1f} s" if compile_backend else ""
    return dict(result, flop_per_sample=per_sample, tflops=tflops, peak_tflops=peak, mfu=mfu, result=(
        f"{result['samples_per_s']:.1f} samples/s, {tflops:.3g} TFLOP/s, "
        + (f"MFU {100 * mfu:.1f} %" if mfu else "MFU n/a (peak unknown)")),
        detail=f"step {result['step_s']:.3g} s, {result['memory_gib']:.1f} GiB peak, median of {plan.steps}{compiled}")


def row_finetune_eager(plan, device, results):
    return finetune_row(plan, device, plan.mert, "eager")


def row_finetune_sdpa(plan, device, results):
    return finetune_row(plan, device, plan.mert, sdpa_or_eager(plan.mert))


def row_finetune_sdpa_compile(plan, device, results):
    return finetune_row(plan, device, plan.mert, sdpa_or_eager(plan.mert), plan.compile_backend)


def row_finetune_wavlm_eager(plan, device, results):
    return finetune_row(plan, device, plan.wavlm, "eager")


def row_weighted_sum_features(plan: Plan, device: torch.device, results: dict) -> dict:
    """The weighted-sum cache's work: pooled per-layer features of the frozen backbone."""
    model = build_model(plan.mert, sdpa_or_eager(plan.mert), plan.batch_size, device, strategy="weighted_sum",
                        clip_seconds=plan.clip_seconds).eval()
    clips = 0.1 * torch.randn(plan.batch_size, round(plan.clip_seconds * model.config.sampling_rate),
                              generator=torch.Generator().manual_seed(0))
    clips = clips.to(device)
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
        model.pooled_layer_features(clips)  # warm-up
        synchronize(device)
        started = time.perf_counter()
        for _ in range(plan.feature_batches):
            model.pooled_layer_features(clips)
        synchronize(device)
    rate = plan.feature_batches * plan.batch_size / (time.perf_counter() - started)
    per_segment = counted_flops(plan.mert, plan.batch_size, plan.clip_seconds, "weighted_sum") / plan.batch_size
    tflops = rate * per_segment / 1e12
    return {"segments_per_s": rate, "flop_per_segment": per_segment, "tflops": tflops,
            "result": f"{rate:.1f} segments/s, {tflops:.3g} TFLOP/s",
            "detail": f"{plan.mert} bf16 autocast, batch {plan.batch_size} x {plan.clip_seconds:g} s, "
                      f"{plan.feature_batches} batches"}


def fastest_finetune(results: dict) -> tuple[str, float] | None:
    """(row, samples/s) of the fastest measured MERT finetune configuration."""
    rates = [(name, row["samples_per_s"]) for name, row in results.items()
             if name.startswith("finetune_") and "wavlm" not in name and row.get("status") == "measured"]
    return max(rates, key=lambda item: item[1]) if rates else None


def row_data_loader(plan: Plan, device: torch.device, results: dict) -> dict:
    import data_loading

    workers = sorted({0, min(8, cores()), cores()})  # 8: training's default on one GPU
    measured = data_loading.measure(plan.loader_segments, workers, plan.batch_size)
    rates = {f"{count} workers": rate for count, rate in measured["segments_per_s"].items()}
    fastest = fastest_finetune(results)
    wants = (f"; the fastest finetune above ({fastest[0]}) takes {fastest[1]:.1f}/s" if fastest
             else f"; a MERT-330M finetune at 40 % MFU on an H100 takes ~{data_loading.step_rate():.0f}/s")
    return dict(measured, segments_per_s=rates, result=rates_text(rates, "segments/s"),
                detail=f"{plan.loader_segments} WAV segments in Arrow, read with {measured['read_with']}{wants}")


def row_separation(plan: Plan, device: torch.device, results: dict) -> dict:
    import separation

    measured = separation.measure(plan.separation_songs, plan.separation_seconds, plan.repeats, str(device),
                                  plan.tiny_htdemucs)
    cells = [f"{precision} {path}: {rate:.1f}x" for precision, paths in measured["x_real_time"].items()
             for path, rate in paths.items()]
    return dict(measured, result="; ".join(cells) + " real time",
                detail=f"{measured['architecture']}, {plan.separation_songs} stereo songs, "
                       f"{measured['audio_seconds']:.0f} s; half ({measured['half_dtype']}) vs fp32 stems: "
                       f"SNR {measured['half_vs_fp32_snr_db']:.1f} dB")


def row_predict_songs(plan: Plan, device: torch.device, results: dict) -> dict:
    import separation
    from singerid.prediction import predict_songs
    from singerid.preprocessing.separation import save_to_local_repo

    files = song_files(plan)[: plan.predict_songs]
    model = build_model(plan.mert, sdpa_or_eager(plan.mert), plan.batch_size, device).eval()
    if device.type == "cuda":
        model.to(torch.bfloat16)  # as `predict --dtype bfloat16`
    with tempfile.TemporaryDirectory(prefix="singerid-gpu-predict-") as tmp:
        repo = save_to_local_repo(separation.random_htdemucs(plan.tiny_htdemucs), Path(tmp, "repo"), "htdemucs_random")

        def run(paths: list[Path], cache: str) -> list:
            return predict_songs(paths, model, separator="htdemucs_random", demucs_repo=str(repo), remove_silence=True,
                                 device=str(device), cache_dir=Path(tmp, cache), progress=False)

        run(files[:1], "warm-up")
        synchronize(device)
        started = time.perf_counter()
        predictions = run(files, "timed")  # an empty separation cache: every song is separated
        synchronize(device)
        seconds = time.perf_counter() - started
    errors = [p.error for p in predictions if p.error]
    if errors:
        raise RuntimeError(f"{len(errors)} songs failed, first: {errors[0]}")
    audio = len(files) * plan.pool_seconds
    return {"songs_per_s": len(files) / seconds, "audio_s_per_s": audio / seconds,
            "result": f"{len(files) / seconds:.2f} songs/s ({audio / seconds:.1f} audio s/s)",
            "detail": f"{len(files)} mp3 songs of {plan.pool_seconds:g} s; random {plan.mert} finetune, "
                      f"{'tiny ' if plan.tiny_htdemucs else ''}htdemucs fp32, silence removal"}


ROWS = {  # id: (title, measure); the CPU-only rows first (see pool_rates)
    "decode": ("decode mp3 (process pool)", row_decode),
    "silence": ("silence detection (process pool)", row_silence),
    "finetune_eager": ("MERT finetune, bf16, eager attention", row_finetune_eager),
    "finetune_sdpa": ("MERT finetune, bf16, SDPA", row_finetune_sdpa),
    "finetune_sdpa_compile": ("MERT finetune, bf16, SDPA, torch.compile", row_finetune_sdpa_compile),
    "finetune_wavlm_eager": ("WavLM finetune, bf16, eager (no compile)", row_finetune_wavlm_eager),
    "weighted_sum_features": ("weighted-sum feature extraction (cache pass)", row_weighted_sum_features),
    "data_loader": ("training data loader", row_data_loader),
    "separation": ("htdemucs separation", row_separation),
    "predict_songs": ("predict_songs end to end", row_predict_songs),
}


def run_row(name: str, plan: Plan, device: torch.device, results: dict) -> dict:
    title, measure = ROWS[name]
    started = time.perf_counter()
    try:
        row = {"status": "measured", **measure(plan, device, results)}
    except ImportError as error:  # this machine lacks what the row needs: the others still run
        missing = getattr(error, "name", None) or "a module"
        row = {"status": "skipped", "reason": f"{missing} is not importable ({one_line(error)})"}
    except Exception as error:
        traceback.print_exc(file=sys.stderr)
        row = {"status": "failed", "reason": f"{type(error).__name__}: {one_line(error)}"}
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return {"title": title, **row, "wall_s": time.perf_counter() - started}


def one_line(error: BaseException) -> str:
    return (str(error).strip() or type(error).__name__).splitlines()[0][:300]


# -- the artist20 estimate -----------------------------------------------------------------------
def estimate_artist20(results: dict, plan: Plan) -> dict:
    """Hours per stage on one GPU and the machine's cores, from the measured rates; a stage whose
    rate is missing is left out of the total and named in `missing`."""
    audio = ARTIST20_HOURS * 3600
    all_segments = audio * KEPT_AFTER_CLEANING / SEGMENT_SECONDS  # the cleaned corpus, every split
    held_out = {split: all_segments * SONGS[split] / sum(SONGS.values()) for split in ("validation", "test")}

    def rate(row: str, *keys):
        value = results.get(row, {})
        if value.get("status") != "measured":
            return None
        for key in keys:
            value = value[key]
        return value

    def most(rates: dict | None):
        return max(rates.values()) if rates else None

    decode = most(rate("decode", "audio_s_per_s"))
    silence = most(rate("silence", "audio_s_per_s"))
    separate = rate("separation", "x_real_time", "fp32", "one song at a time")  # the commands' default today
    fastest = fastest_finetune(results)
    loader = most(rate("data_loader", "segments_per_s"))
    finetune = min(fastest[1], loader) if fastest and loader else (fastest[1] if fastest else None)
    features = rate("weighted_sum_features", "segments_per_s")
    # WavLM's cache pass runs at MERT's rate times MERT's FLOPs over WavLM's (the plan's models).
    if features:
        features_wavlm = features * (counted_flops(plan.mert, 1, SEGMENT_SECONDS, "weighted_sum")
                                     / counted_flops(plan.wavlm, 1, SEGMENT_SECONDS, "weighted_sum"))
    else:
        features_wavlm = None

    def hours(work: float, per_second: float | None) -> float | None:
        return work / per_second / 3600 if per_second else None

    forward_segments = FINETUNE_EPOCHS * held_out["validation"] + held_out["test"]
    stages = {
        "decode (vocals and raw corpora)": (hours(2 * audio, decode), "decode"),
        f"separation ({ARTIST20_HOURS} h once, fp32, one song at a time)": (hours(audio, separate), "separation"),
        "silence detection": (hours(audio, silence), "silence"),
        f"finetune x2 ({FINETUNE_EPOCHS} epochs of {FINETUNE_SEGMENTS:,} segments)":
            (hours(2 * FINETUNE_EPOCHS * FINETUNE_SEGMENTS, finetune), "finetune_*, data_loader"),
        f"weighted-sum cache, MERT ({all_segments:,.0f} segments, one forward each)":
            (hours(all_segments, features), "weighted_sum_features"),
        "weighted-sum cache, WavLM-Large (rate scaled by FLOPs)":
            (hours(all_segments, features_wavlm), "weighted_sum_features"),
        "evaluation of the finetunes (validation every epoch, test once)":
            (hours(2 * forward_segments, features), "weighted_sum_features"),
    }
    known = [value for value, _ in stages.values() if value is not None]
    variants = rate("separation", "x_real_time") or {}
    fastest_separation = max(((f"{precision}, {path}", speed) for precision, paths in variants.items()
                              for path, speed in paths.items()), key=lambda item: item[1], default=None)
    return {
        "stages_hours": {stage: value for stage, (value, _) in stages.items()},
        "missing": sorted({row for value, row in stages.values() if value is None}),
        "total_hours": sum(known) if known else None,
        "separation_fastest_variant": fastest_separation and {"variant": fastest_separation[0],
                                                              "hours": hours(audio, fastest_separation[1])},
        "assumptions": (f"{ARTIST20_HOURS} h of audio, {KEPT_AFTER_CLEANING:.0%} kept after cleaning, "
                        f"{SEGMENT_SECONDS:g} s segments; "
                        f"finetune at min(fastest MERT finetune, loader with most workers); weighted-sum heads "
                        f"and writing the datasets not counted"),
    }


# -- the command ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--reduced", action="store_true", help="tiny models and short audio (default without CUDA)")
    parser.add_argument("--rows", help=f"comma-separated subset of {', '.join(ROWS)}")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--peak-tflops", type=float, help="the peak for MFU (default: by the CUDA device's name)")
    args = parser.parse_args()
    device = torch.device(args.device)
    reduced = args.reduced or device.type != "cuda"
    plan = replace(REDUCED if reduced else FULL, peak_tflops=args.peak_tflops)
    selected = args.rows.split(",") if args.rows else list(ROWS)
    unknown = set(selected) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; choose from {', '.join(ROWS)}")
    with contextlib.suppress(ImportError):
        import datasets

        datasets.disable_progress_bars()

    mode = "reduced (tiny models, short audio: checks the command, not a forecast)" if reduced else "full"
    print(describe(device))
    print("bare-box packages: " + ", ".join(f"{name} {version or 'missing'}" for name, version in packages().items()))
    print(f"mode: {mode}; device {device}; {cores()} cores", flush=True)
    results = {}
    for name in ROWS:
        if name in selected:
            results[name] = run_row(name, plan, device, results)
        else:
            results[name] = {"title": ROWS[name][0], "status": "skipped", "reason": "not selected with --rows"}
        row = results[name]
        print(f"  {name}: {row['status']} in {row.get('wall_s', 0):.1f} s", file=sys.stderr, flush=True)

    estimate = estimate_artist20(results, plan)
    print()
    print_table(["row", "status", "result", "detail"],
                [[row["title"], row["status"], row.get("result", row.get("reason", "")), row.get("detail", "")]
                 for row in results.values()], left=4)
    print(f"\nEstimated time to the whole artist20 table on one {'GPU' if device.type == 'cuda' else 'CPU'} "
          f"({estimate['assumptions']}):")
    print_table(["stage", "hours"], [[stage, "n/a" if value is None else f"{value:.2f}"]
                                     for stage, value in estimate["stages_hours"].items()]
                + [["total" + (f" (without: {', '.join(estimate['missing'])})" if estimate["missing"] else ""),
                    "n/a" if estimate["total_hours"] is None else f"{estimate['total_hours']:.2f}"]])
    if estimate["separation_fastest_variant"]:
        fastest = estimate["separation_fastest_variant"]
        print(f"(separation with the fastest measured variant, {fastest['variant']}: {fastest['hours']:.2f} h)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": describe(device), "device": str(device), "mode": "reduced" if reduced else "full",
            "packages": packages(), "plan": asdict(plan), "rows": results, "artist20_estimate": estimate,
        }, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
