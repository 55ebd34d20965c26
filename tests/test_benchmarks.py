"""The benchmark commands keep working: benchmarks/gpu.py reduced on the CPU (every row, and
rows that cannot run on a bare machine), benchmarks/separation_sdr.py on synthetic songs, and
the half-precision separator they measure. Speeds are printed by the benchmarks, never asserted."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
GPU_ROWS = {"decode", "silence", "finetune_eager", "finetune_sdpa", "finetune_sdpa_compile", "finetune_wavlm_eager",
            "weighted_sum_features", "data_loader", "separation", "predict_songs"}

# A bare GPU box (benchmarks/bare_box.py): every installed package hidden but BARE_BOX and what
# they require, and a torchcodec carried there that fails to load (a CUDA build beside CPU torch).
BARE_BOX = '''
import importlib.abc, importlib.machinery, importlib.metadata, runpy, sys
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def with_requirements(names):
    kept, todo = set(), [canonicalize_name(name) for name in names]
    while todo:
        name = todo.pop()
        if name in kept:
            continue
        kept.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return kept


kept = with_requirements(runpy.run_path(BARE_BOX_FILE)["BARE_BOX"])
for module, distributions in importlib.metadata.packages_distributions().items():
    if module not in ("singerid", "torchcodec") and not kept & {canonicalize_name(name) for name in distributions}:
        sys.modules[module] = None  # not installed


class BrokenTorchcodec(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        return importlib.machinery.ModuleSpec(name, self) if name == "torchcodec" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise RuntimeError("Could not load libtorchcodec (simulated)")


sys.meta_path.insert(0, BrokenTorchcodec())
'''


def run_benchmark(script: str, *args: str, cwd: Path, pythonpath: Path | None = None) -> dict:
    """Runs a benchmark with `--json` and returns what it wrote."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    output = cwd / "result.json"
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args, "--json", str(output)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(output.read_text())


def test_gpu_benchmark_reduced_measures_every_row_and_estimates_artist20(tmp_path):
    report = run_benchmark("gpu.py", "--reduced", cwd=tmp_path)

    assert report["mode"] == "reduced"
    assert set(report["rows"]) == GPU_ROWS
    for name, row in report["rows"].items():
        assert row["status"] == "measured", (name, row.get("reason"))
        assert row["result"], name
    estimate = report["artist20_estimate"]
    assert estimate["missing"] == []
    assert estimate["total_hours"] > 0 and math.isfinite(estimate["total_hours"])
    assert all(hours > 0 for hours in estimate["stages_hours"].values())
    assert report["rows"]["separation"]["half_vs_fp32_snr_db"] > 20  # half stays close to fp32


def tiny_mert(strategy: str, batch_size: int, clip_seconds: float):
    """The reduced plan's tiny-mert as the benchmark builds it (20 artists), and a batch for it.
    Eager attention: FlopCounterMode does not count the CPU's fused SDPA kernel."""
    import torch

    from singerid import SingerClassifier, SingerClassifierConfig
    from singerid.models.singer.backbones import preset_config

    encoder, rate = preset_config("tiny-mert")
    encoder.layerdrop = 0.0  # every layer in every step
    config = SingerClassifierConfig(encoder_config=encoder, strategy=strategy, sampling_rate=rate,
                                    id2label={i: f"artist_{i}" for i in range(20)}, chunk_seconds=clip_seconds,
                                    chunk_batch_size=batch_size, attn_implementation="eager")
    return SingerClassifier(config), torch.randn(batch_size, round(clip_seconds * rate))


def counted_flops(run) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def test_gpu_benchmark_mfu_counts_the_flops_of_the_model_it_runs(tmp_path):
    import torch

    report = run_benchmark("gpu.py", "--reduced", "--rows", "finetune_eager,weighted_sum_features",
                           "--peak-tflops", "2", cwd=tmp_path)
    plan, rows = report["plan"], report["rows"]
    finetune, features = rows["finetune_eager"], rows["weighted_sum_features"]

    model, clips = tiny_mert("finetune", plan["batch_size"], plan["clip_seconds"])
    labels = torch.arange(plan["batch_size"])
    step = counted_flops(lambda: model.train()(clips, labels=labels).loss.backward())
    assert finetune["flop_per_sample"] * plan["batch_size"] == step
    assert finetune["tflops"] == pytest.approx(finetune["samples_per_s"] * step / plan["batch_size"] / 1e12)
    assert finetune["mfu"] == pytest.approx(finetune["tflops"] / 2)

    model, clips = tiny_mert("weighted_sum", plan["batch_size"], plan["clip_seconds"])
    with torch.inference_mode():
        forward = counted_flops(lambda: model.eval().pooled_layer_features(clips))
    assert features["flop_per_segment"] * plan["batch_size"] == forward
    assert features["tflops"] == pytest.approx(features["segments_per_s"] * forward / plan["batch_size"] / 1e12)


def test_gpu_benchmark_on_a_bare_box_separates_and_reports_each_row_alone(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(f"BARE_BOX_FILE = {str(BENCHMARKS / 'bare_box.py')!r}\n{BARE_BOX}")
    rows = "decode,silence,finetune_eager,data_loader,separation,predict_songs"
    report = run_benchmark("gpu.py", "--reduced", "--rows", rows, cwd=tmp_path, pythonpath=site)["rows"]

    assert set(report) == GPU_ROWS
    for name in ("finetune_eager", "separation"):  # torch, transformers and demucs suffice
        assert report[name]["status"] == "measured", (name, report[name].get("reason"))
    assert report["separation"]["architecture"] == "tiny htdemucs"
    # predict_songs reads songs through soundfile before it would reach datasets
    for name, missing in (("silence", "soundfile"), ("data_loader", "soundfile"), ("predict_songs", "soundfile")):
        assert report[name]["status"] == "skipped", name
        assert report[name]["reason"].startswith(f"{missing} is not importable"), report[name]["reason"]
    assert report["decode"]["status"] == "failed"
    assert report["decode"]["reason"] == "RuntimeError: Could not load libtorchcodec (simulated)"
    assert report["finetune_sdpa"] == {"title": report["finetune_sdpa"]["title"], "status": "skipped",
                                       "reason": "not selected with --rows"}


def test_separation_sdr_demo_scores_fp32_and_half(tmp_path):
    report = run_benchmark("separation_sdr.py", "--demo", cwd=tmp_path)

    assert report["demo"] and len(report["tracks"]) == 2
    for track in report["tracks"]:
        for key in ("sdr_db_mixture", "sdr_db_fp32", "sdr_db_half"):
            assert math.isfinite(track[key]), (track["track"], key)
        assert track["half_vs_fp32_snr_db"] > 20
    assert math.isfinite(report["median_sdr_db_half"])


def test_half_separation_gives_float32_stems_close_to_fp32_with_the_same_weights_digest(demucs_repo):
    from singerid.preprocessing.separation import VocalSeparator

    fp32 = VocalSeparator("tiny_htdemucs", repo=demucs_repo, device="cpu")
    half = VocalSeparator("tiny_htdemucs", repo=demucs_repo, device="cpu", half=True)
    mix = (0.1 * np.random.default_rng(0).standard_normal((2, 44100))).astype(np.float32)

    reference, stem = fp32.vocals(mix), half.vocals(mix)
    assert half.weights == fp32.weights
    assert stem.dtype == np.float32 and stem.shape == reference.shape == mix.shape
    snr = 10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / np.sum((reference - stem).astype(np.float64) ** 2))
    assert 20 < snr < np.inf  # close, and computed differently
