"""Layer probes: the probe finds the layer that carries the singer, and `singerid probe`
writes one row per hidden state (and a weighted_sum model's layer weights) from training's
feature cache."""

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import make_segment_dataset
from singerid.commands.probe import main as probe_main
from singerid.probing import C_GRID, DEFAULT_C, PooledFeatures, probe_hidden_states, probe_layers

LAYERS, DIM, CLASSES = 5, 8, 3


def _synthetic(rng, songs_per_class: int, informative: int = 2) -> PooledFeatures:
    """Songs of 3 segments; hidden state `informative` = one-hot label + noise, the others noise."""
    labels = np.repeat(np.arange(CLASSES), songs_per_class * 3)
    song_ids = [f"{label}/{row // 3}" for row, label in enumerate(labels)]
    features = rng.standard_normal((len(labels), LAYERS, DIM)).astype(np.float32)
    features[:, informative, :CLASSES] += 3.0 * np.eye(CLASSES, dtype=np.float32)[labels]
    return PooledFeatures.from_array(features, labels, song_ids)


def test_the_probe_puts_the_layer_that_carries_the_label_on_top():
    rng = np.random.default_rng(0)
    splits = {"train": _synthetic(rng, 8), "validation": _synthetic(rng, 4), "test": _synthetic(rng, 4)}
    probes = probe_layers(splits, CLASSES, progress=False)
    assert [probe.layer for probe in probes] == list(range(LAYERS))
    assert all(probe.C in C_GRID and set(probe.scores) == {"validation", "test"} for probe in probes)
    for split in ("validation", "test"):
        ranked = sorted(probes, key=lambda probe: probe.scores[split]["segment_top1"], reverse=True)
        assert ranked[0].layer == 2
        assert probes[2].scores[split]["segment_top1"] >= 0.85 and probes[2].scores[split]["song_top1"] == 1.0
        assert max(probe.scores[split]["segment_top1"] for probe in probes if probe.layer != 2) <= 0.6


def test_without_validation_the_probe_keeps_its_default_strength():
    rng = np.random.default_rng(1)
    probes = probe_layers({"train": _synthetic(rng, 6, informative=4), "test": _synthetic(rng, 3, informative=4)},
                          CLASSES, progress=False)
    assert {probe.C for probe in probes} == {DEFAULT_C}
    assert all(set(probe.scores) == {"test"} for probe in probes)
    assert max(probes, key=lambda probe: probe.scores["test"]["segment_top1"]).layer == 4


def test_pooled_features_read_from_arrow_one_layer_at_a_time():
    from datasets import Array2D, Dataset, Features, Value, concatenate_datasets

    values = np.arange(7 * 3 * 4, dtype=np.float32).reshape(7, 3, 4)
    features = Features({"features": Array2D((3, 4), "float32"), "label": Value("int64"), "song_id": Value("string")})
    parts = [Dataset.from_dict({"features": values[rows], "label": list(rows), "song_id": [str(r) for r in rows]},
                               features=features) for rows in (range(0, 3), range(3, 7))]
    data = concatenate_datasets(parts)  # two Arrow chunks
    pooled = PooledFeatures.from_dataset(data)
    assert pooled.num_layers == 3 and len(pooled.blocks) == 2
    for layer in range(3):
        np.testing.assert_array_equal(pooled.layer(layer), values[:, layer])
    picked = PooledFeatures.from_dataset(data.select([6, 1, 4]))  # a row selection is honoured
    np.testing.assert_array_equal(picked.layer(1), values[[6, 1, 4], 1])
    assert list(picked.labels) == [6, 1, 4] and picked.song_ids == ["6", "1", "4"]


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    return make_segment_dataset(tmp_path_factory.mktemp("probe_data") / "dataset")


def _rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_probe_command_writes_a_row_per_hidden_state(dataset_dir, tmp_path, capsys):
    assert probe_main(["--dataset", str(dataset_dir), "--backbone", "tiny-mert", "--output", str(tmp_path / "a"),
                       "--batch_size", "6"]) == 0
    line = capsys.readouterr().out
    assert "probed 3 hidden states of backbone tiny-mert" in line and "best on validation" in line
    rows = _rows(tmp_path / "a" / "probe.csv")
    assert [row["hidden_state"] for row in rows] == ["0", "1", "2"]  # tiny-mert: 2 layers + the CNN output
    assert set(rows[0]) == {"hidden_state", "C", "validation_segment_top1", "validation_song_top1",
                            "test_segment_top1", "test_song_top1"}  # no layer weights for a fresh backbone
    assert all(0.0 <= float(row["test_song_top1"]) <= 1.0 and float(row["C"]) in C_GRID for row in rows)
    assert (tmp_path / "a" / "probe.png").stat().st_size > 10_000
    # Same seed, same cached features, same probes.
    assert probe_main(["--dataset", str(dataset_dir), "--backbone", "tiny-mert", "--output", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "probe.csv").read_text() == (tmp_path / "b" / "probe.csv").read_text()


def test_probe_of_a_saved_model_reports_its_layer_weights(dataset_dir, tmp_path, monkeypatch):
    from transformers import set_seed

    from singerid.data import load_corpus
    from singerid.training import ModelArguments, build_model

    data, preprocessing = load_corpus(str(dataset_dir))
    set_seed(42)  # the backbone --backbone tiny-mert --seed 42 builds
    model = build_model(ModelArguments(backbone="tiny-mert"), data["train"].features["label"].names, preprocessing)
    with torch.no_grad():
        model.layer_weights.copy_(torch.tensor([0.0, 1.0, 2.0]))
    model.save_pretrained(tmp_path / "model")
    expected = torch.tensor([0.0, 1.0, 2.0]).softmax(-1).numpy()

    # Each run its own empty feature cache: the backbones' digests match, so with one shared cache the second
    # run would read the first one's features, and the comparison below would compare the cache with itself.
    monkeypatch.setenv("SINGERID_CACHE", str(tmp_path / "backbone_cache"))
    backbone_run = probe_hidden_states(str(dataset_dir), tmp_path / "backbone", backbone="tiny-mert", autocast="no",
                                       progress=False)
    monkeypatch.setattr("singerid.training.build_model", None)  # --model builds no classifier of its own
    monkeypatch.setenv("SINGERID_CACHE", str(tmp_path / "model_cache"))
    report = probe_hidden_states(str(dataset_dir), tmp_path / "out", model=str(tmp_path / "model"), autocast="no",
                                 progress=False)
    np.testing.assert_allclose(report.layer_weights, expected, atol=1e-6)
    rows = _rows(report.csv)
    np.testing.assert_allclose([float(row["layer_weight"]) for row in rows], expected, atol=1e-4)
    assert report.plot.is_file() and report.source == f"model {tmp_path / 'model'}"
    # The model's own backbone (here the weights --backbone tiny-mert --seed 42 makes): the same features, each
    # computed by its run, and so the same probes. The features, as the probes' top-1 is 1.0 at every layer here.
    ours, theirs = _cached_features(tmp_path / "model_cache"), _cached_features(tmp_path / "backbone_cache")
    assert ours.keys() == theirs.keys() and ours
    for name, features in ours.items():
        np.testing.assert_allclose(features, theirs[name], atol=1e-6, err_msg=name)
    assert [probe.scores for probe in report.probes] == [probe.scores for probe in backbone_run.probes]


def _cached_features(cache: Path) -> dict[str, np.ndarray]:
    """The pooled features in a singerid cache, by file (named by data, backbone digest and shard)."""
    from datasets import Dataset

    return {file.name: Dataset.from_file(str(file)).with_format("numpy")["features"]
            for file in sorted((cache / "features").glob("*.arrow"))}


def test_probe_refuses_both_or_neither_source(dataset_dir, tmp_path, capsys):
    for sources in ([], ["--backbone", "tiny-mert", "--model", str(tmp_path)]):
        with pytest.raises(SystemExit) as exit_:
            probe_main(["--dataset", str(dataset_dir), "--output", str(tmp_path / "out"), *sources])
        assert exit_.value.code == 2
        assert "exactly one of --backbone" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_probe_says_which_splits_it_lacks(tmp_path, capsys):
    no_train = make_segment_dataset(tmp_path / "no_train", songs={"validation": 1, "test": 1})
    assert probe_main(["--dataset", str(no_train), "--backbone", "tiny-mert", "--output", str(tmp_path / "x")]) == 1
    assert "no 'train' split" in capsys.readouterr().err

    no_test = make_segment_dataset(tmp_path / "no_test", artists=2, songs={"train": 1, "validation": 1})
    assert probe_main(["--dataset", str(no_test), "--backbone", "tiny-mert", "--output", str(tmp_path / "y")]) == 0
    assert "no test split: not probed" in capsys.readouterr().out
    rows = _rows(tmp_path / "y" / "probe.csv")
    assert len(rows) == 3 and not any(column.startswith("test_") for column in rows[0])
