"""Training: the cached weighted-sum path, outputs, resume, accelerate launch, evaluate_model."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Audio, load_from_disk
from safetensors.torch import load_file

from helpers import make_segment_dataset
from singerid import SingerClassifier
from singerid.data import AudioCollator, encoded_audio, feature_collator
from singerid.commands.train import main as train_main
from singerid.commands import parse
from singerid.preprocessing import PreprocessConfig
from singerid.training import DataArguments, ModelArguments, SingerTrainingArguments, build_model, cache_pooled_features

ROOT = Path(__file__).resolve().parents[1]
METRIC_KEYS = {"segment_top1", "segment_top3", "song_top1", "song_top3", "song_macro_f1", "song_vote_top1",
               "num_artists", "num_songs", "num_segments", "precision"}
QUICK = ["--backbone", "tiny-mert", "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "4",
         "--learning_rate", "3e-3", "--disable_tqdm", "true", "--report_to", "none", "--seed", "0"]


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    return make_segment_dataset(tmp_path_factory.mktemp("data") / "dataset")


@pytest.fixture(scope="module")
def weighted_sum_run(dataset_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("runs") / "weighted_sum"
    assert train_main(["--dataset", str(dataset_dir), "--strategy", "weighted_sum", "--output_dir", str(output),
                       "--num_train_epochs", "3", *QUICK]) == 0
    return output


def _model_and_data(dataset_dir, split="validation"):
    torch.manual_seed(0)
    dataset = load_from_disk(str(dataset_dir))
    model = build_model(ModelArguments(backbone="tiny-mert"), dataset["train"].features["label"].names,
                        PreprocessConfig.load(dataset_dir)).eval()
    return model, encoded_audio(dataset[split]), AudioCollator.for_model(model.config)


def test_cached_features_give_the_full_models_logits(dataset_dir):
    model, data, collator = _model_and_data(dataset_dir)
    cached = cache_pooled_features(model, data, collator, batch_size=3)
    with torch.no_grad():
        with_cache = model(**{k: v for k, v in feature_collator(list(cached)).items() if k != "labels"}).logits
        full = model(**{k: v for k, v in collator(list(data)).items() if k != "labels"}).logits
    torch.testing.assert_close(with_cache, full, rtol=0, atol=1e-5)


def test_feature_cache_is_reused_and_keyed_by_the_backbone(dataset_dir, monkeypatch):
    model, data, collator = _model_and_data(dataset_dir)
    first = cache_pooled_features(model, data, collator)
    calls = []
    original = SingerClassifier.pooled_layer_features
    monkeypatch.setattr(SingerClassifier, "pooled_layer_features",
                        lambda self, *args: calls.append(1) or original(self, *args))
    again = cache_pooled_features(model, data, collator)
    assert calls == [] and again["features"] == first["features"]
    with torch.no_grad():
        model.backbone.encoder.layers[0].attention.q_proj.weight.add_(0.1)
    changed = cache_pooled_features(model, data, collator)
    assert calls and changed["features"] != first["features"]


def test_a_saved_and_reloaded_backbone_keeps_its_feature_cache_key(dataset_dir, tmp_path):
    from singerid.training import backbone_digest

    model, _, _ = _model_and_data(dataset_dir)
    model.save_pretrained(tmp_path / "model")
    assert backbone_digest(SingerClassifier.from_pretrained(tmp_path / "model")) == backbone_digest(model)
    half = SingerClassifier.from_pretrained(tmp_path / "model", dtype=torch.bfloat16)
    assert backbone_digest(half) != backbone_digest(model)  # other weights' bytes: other features


@pytest.mark.parametrize("options, cache", [
    ([], "singerid_cache/features"),
    (["--leave_out_artists", "artist_2"], "singerid_cache/features"),
    (["--cache_dir", "{tmp}/cache"], "cache/features"),
    (["--feature_cache_dir", "{tmp}/shared"], "shared"),
], ids=["default", "leave_out_artists", "cache_dir", "feature_cache_dir"])
def test_training_writes_nothing_into_the_dataset_folder(dataset_dir, tmp_path, singerid_cache, options, cache):
    dataset = shutil.copytree(dataset_dir, tmp_path / "dataset")  # no cache of an earlier test's beside it
    before = sorted(dataset.rglob("*"))
    options = [option.format(tmp=tmp_path) for option in options]
    assert train_main(["--dataset", str(dataset), "--strategy", "weighted_sum", "--output_dir", str(tmp_path / "run"),
                       "--max_steps", "1", *options, *QUICK]) == 0
    assert sorted(dataset.rglob("*")) == before
    cache = singerid_cache / "features" if cache.startswith("singerid_cache") else tmp_path / cache
    assert list(cache.glob("*.arrow"))  # the features' shards
    assert {path for path in singerid_cache.rglob("*") if path.is_file()} <= set(cache.glob("*"))


def test_training_writes_the_model_metrics_and_plots(weighted_sum_run, dataset_dir):
    files = {path.name for path in weighted_sum_run.iterdir()}
    assert {"model.safetensors", "config.json", "preprocessor_config.json", "modeling_singer.py", "metrics.json",
            "confusion_matrix.png", "confusion_matrix.csv", "layer_weights.png", "per_artist_accuracy.csv",
            "training_curves.png", "gallery.safetensors"} <= files
    metrics = json.loads((weighted_sum_run / "metrics.json").read_text())
    assert set(metrics) == {"validation", "test"}
    for split in metrics.values():
        assert set(split) == METRIC_KEYS
        assert all(0.0 <= value <= 1.0 for key, value in split.items() if not key.startswith("num_") and key != "precision")
        assert split["precision"] == "float32 weights, autocast no"
    assert metrics["test"]["num_songs"] == 3 and metrics["test"]["num_segments"] == 6
    config = json.loads((weighted_sum_run / "config.json").read_text())
    assert config["preprocessing"]["segment_seconds"] == 1.0 and config["chunk_seconds"] == 1.0
    assert config["id2label"] == {"0": "artist_0", "1": "artist_1", "2": "artist_2"}
    rows = (weighted_sum_run / "confusion_matrix.csv").read_text().splitlines()
    assert rows[0].split(",")[1:] == ["artist_0", "artist_1", "artist_2"]
    assert all(abs(sum(map(float, row.split(",")[1:])) - 1) < 1e-3 for row in rows[1:])


def test_the_head_trained_on_features_is_saved_inside_the_full_model(weighted_sum_run):
    weights = load_file(weighted_sum_run / "model.safetensors")
    assert not torch.all(weights["layer_weights"] == 0)  # it trained
    model = SingerClassifier.from_pretrained(weighted_sum_run)
    torch.manual_seed(0)
    fresh = SingerClassifier.from_backbone("tiny-mert")
    assert all(torch.equal(model.backbone.state_dict()[k], v) for k, v in fresh.backbone.state_dict().items())


def test_the_saved_model_is_the_best_checkpoint(weighted_sum_run):
    last = max(weighted_sum_run.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))
    best = json.loads((last / "trainer_state.json").read_text())["best_model_checkpoint"]
    assert best is not None
    saved = load_file(weighted_sum_run / "model.safetensors")
    chosen = load_file(weighted_sum_run / Path(best).name / "model.safetensors")
    assert saved.keys() == chosen.keys()
    assert all(torch.equal(saved[key], chosen[key]) for key in saved)


def test_evaluate_model_reproduces_the_training_test_metrics(weighted_sum_run, dataset_dir, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate_model.py"), "--model", str(weighted_sum_run),
                           "--dataset", str(dataset_dir), "--split", "test", "--output", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    evaluated = json.loads((tmp_path / "metrics.json").read_text())
    trained = json.loads((weighted_sum_run / "metrics.json").read_text())
    assert evaluated == {"test": trained["test"]}
    assert {"confusion_matrix.png", "confusion_matrix.csv", "per_artist_accuracy.csv"} <= \
        {path.name for path in tmp_path.iterdir()}
    table = (tmp_path / "per_artist_accuracy.csv").read_text().splitlines()
    assert table[0] == "artist,songs,correct,accuracy" and len(table) == 4


def test_evaluate_model_runs_the_model_in_half_precision(weighted_sum_run, dataset_dir, tmp_path):
    from singerid.commands.evaluate_model import main as evaluate_main
    from singerid.evaluation import predict_segments
    from singerid.prediction import load_model

    assert evaluate_main(["--model", str(weighted_sum_run), "--dataset", str(dataset_dir), "--split", "test",
                          "--output", str(tmp_path), "--dtype", "bfloat16"]) == 0
    assert set(json.loads((tmp_path / "metrics.json").read_text())["test"]) == METRIC_KEYS
    test = encoded_audio(load_from_disk(str(dataset_dir))["test"])
    collator = AudioCollator(24000, 24000)
    half = predict_segments(load_model(str(weighted_sum_run), "bfloat16"), test, collator)
    full = predict_segments(load_model(str(weighted_sum_run)), test, collator)
    assert half.precision == "bfloat16 weights, autocast no"
    np.testing.assert_allclose(half.probabilities, full.probabilities, atol=0.02)


def test_resuming_from_a_checkpoint_equals_an_uninterrupted_run(dataset_dir, tmp_path):
    steps = ["--strategy", "finetune", "--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2",
             "--eval_strategy", "steps", "--eval_steps", "2", "--save_total_limit", "5", *QUICK]
    assert train_main(["--dataset", str(dataset_dir), "--output_dir", str(tmp_path / "whole"), *steps]) == 0
    # A run killed after its first checkpoint left only that checkpoint behind.
    shutil.copytree(tmp_path / "whole" / "checkpoint-2", tmp_path / "parts" / "checkpoint-2")
    assert train_main(["--dataset", str(dataset_dir), "--output_dir", str(tmp_path / "parts"), *steps,
                       "--resume_from_checkpoint", "last"]) == 0
    whole = load_file(tmp_path / "whole" / "checkpoint-4" / "model.safetensors")
    resumed = load_file(tmp_path / "parts" / "checkpoint-4" / "model.safetensors")
    assert all(torch.equal(whole[key], resumed[key]) for key in whole)
    state = json.loads((tmp_path / "parts" / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4


def test_arguments_from_a_yaml_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("dataset: some/data\nbackbone: wavlm-large\nstrategy: finetune\noutput_dir: out\n"
                    "num_train_epochs: 3\n")
    data, model, training = parse([str(path)], DataArguments, ModelArguments, SingerTrainingArguments, prog="train",
                                  description="")
    assert (data.dataset, model.backbone, model.strategy) == ("some/data", "wavlm-large", "finetune")
    assert training.num_train_epochs == 3
    assert (training.learning_rate, training.weight_decay, training.per_device_train_batch_size,
            training.max_grad_norm, training.metric_for_best_model) == (1e-4, 1e-6, 24, 5.0, "song_top1")


def test_a_few_steps_under_accelerate_launch(dataset_dir, tmp_path):
    accelerate = Path(sys.executable).with_name("accelerate")
    done = subprocess.run(
        [str(accelerate), "launch", "--config_file", str(ROOT / "accelerate_config.yaml"), str(ROOT / "scripts" / "train.py"),
         "--dataset", str(dataset_dir), "--strategy", "finetune", "--max_steps", "2", "--output_dir", str(tmp_path),
         *QUICK],
        capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "song_top1" in done.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["test"]) == METRIC_KEYS
    from transformers import pipeline

    from singerid.audio import load_mono
    from singerid.recipes.demo_corpus import synthesize_corpus

    [song] = synthesize_corpus(tmp_path / "corpus", singers=1, albums=1, songs=1, seconds=8.0, progress=False)
    classify = pipeline("audio-classification", model=str(tmp_path))
    result = classify(str(song), top_k=3)
    model = SingerClassifier.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(load_mono(song, 24000))[None]).logits.softmax(-1)[0]
    assert [row["label"] for row in result] == [model.config.id2label[int(i)] for i in expected.argsort(descending=True)]
    for row in result:
        assert row["score"] == pytest.approx(expected[model.config.label2id[row["label"]]].item(), abs=1e-4)


def test_loader_workers_deliver_the_same_batches_as_one_process(dataset_dir):
    data = encoded_audio(load_from_disk(str(dataset_dir))["validation"])
    collator = AudioCollator(24000, 24000)  # the evaluation collator: no random crops

    def batches(workers):
        loader = torch.utils.data.DataLoader(data, batch_size=2, num_workers=workers, collate_fn=collator)
        return [{key: value.clone() if torch.is_tensor(value) else value for key, value in batch.items()}
                for batch in loader]

    single, parallel = batches(0), batches(2)
    assert len(single) == len(parallel) == 3
    for one, other in zip(single, parallel):
        assert one.keys() == other.keys()
        assert all(torch.equal(one[key], other[key]) if torch.is_tensor(one[key]) else one[key] == other[key]
                   for key in one)
        assert one["input_lengths"] == one["attention_mask"].sum(-1).tolist()


@pytest.mark.parametrize("rate", [16000, 24000])  # the stored rate, and another
def test_the_collator_decodes_stored_segments_as_datasets_does(dataset_dir, rate):
    # Encoded audio is decoded by libsndfile (and resampled by us); datasets decodes with
    # ffmpeg. Both must hand the model the same samples.
    stored = load_from_disk(str(dataset_dir))["validation"]
    collator = AudioCollator(rate, rate)
    ours = collator([row for row in encoded_audio(stored)])
    theirs = collator([row for row in stored.cast_column("audio", Audio(sampling_rate=rate))])
    assert ours["input_values"].shape == theirs["input_values"].shape and ours["input_values"].abs().sum() > 0
    torch.testing.assert_close(ours["input_values"], theirs["input_values"], rtol=0, atol=1e-6)
    assert torch.equal(ours["attention_mask"], theirs["attention_mask"])


def test_default_loader_workers_and_ddp_settings():
    from singerid.training import loader_workers

    args = SingerTrainingArguments(output_dir="unused")
    assert args.dataloader_num_workers == loader_workers()
    assert torch.cuda.is_available() or loader_workers() == 0  # no decoding processes beside a CPU model
    assert args.ddp_find_unused_parameters is False
    assert SingerTrainingArguments(output_dir="unused", dataloader_num_workers=2).dataloader_persistent_workers


def test_final_numbers_and_evaluate_model_share_one_precision(dataset_dir, tmp_path):
    # bf16 autocast on the CPU stands in for a GPU run; each command runs in its own process.
    run = tmp_path / "run"
    train = subprocess.run([sys.executable, "-m", "singerid", "train", "--dataset", str(dataset_dir), "--strategy",
                            "finetune", "--max_steps", "2", "--output_dir", str(run), "--bf16", "true", "--use_cpu",
                            "true", *QUICK], capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-3000:]
    evaluate = subprocess.run([sys.executable, "-m", "singerid", "evaluate_model", "--model", str(run), "--dataset",
                               str(dataset_dir), "--output", str(tmp_path / "evaluation")],
                              capture_output=True, text=True, timeout=600)
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    trained = json.loads((run / "metrics.json").read_text())["test"]
    evaluated = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())["test"]
    assert trained["precision"] == "float32 weights, autocast bf16"
    assert evaluated == trained


def test_torch_compile_trains_and_saves_a_loadable_model(dataset_dir, tmp_path):
    # aot_eager traces and runs the graphs without code generation: minutes of inductor on 2 cores otherwise.
    run = tmp_path / "compiled"
    done = subprocess.run([sys.executable, "-m", "singerid", "train", "--dataset", str(dataset_dir), "--strategy",
                           "finetune", "--max_steps", "2", "--output_dir", str(run), "--torch_compile", "true",
                           "--torch_compile_backend", "aot_eager", *QUICK], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert set(json.loads((run / "metrics.json").read_text())["test"]) == METRIC_KEYS
    model, info = SingerClassifier.from_pretrained(run, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]


def test_a_cache_built_in_shares_equals_one_built_by_one_process(dataset_dir, tmp_path):
    model, data, collator = _model_and_data(dataset_dir, "train")
    one = cache_pooled_features(model, data, collator, cache_dir=tmp_path / "one")
    shares = cache_pooled_features(model, data, collator, cache_dir=tmp_path / "shares",
                                   process=(1, 2))  # the second of two processes: its shards first
    assert len(list((tmp_path / "shares").glob("*.arrow"))) == 8  # built anew, not read from the first
    assert one["song_id"] == shares["song_id"]
    np.testing.assert_allclose(np.asarray(one["features"]), np.asarray(shares["features"]), atol=1e-6)
