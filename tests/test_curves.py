"""Training curves: every training run leaves training_curves.png, drawn from the Trainer's log history."""

import pytest

from helpers import make_segment_dataset
from singerid import training
from singerid.commands.train import main as train_main
from singerid.reports import TRAINING_CURVES, plot_training_curves, training_curves

QUICK = ["--backbone", "tiny-mert", "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "4",
         "--learning_rate", "3e-3", "--disable_tqdm", "true", "--report_to", "none", "--seed", "0"]
PNG = b"\x89PNG\r\n\x1a\n"


def test_curves_of_a_run_with_validation(tmp_path):
    history = []
    for epoch in (1.0, 2.0, 3.0):
        history.append({"loss": 1.5 / epoch, "grad_norm": 0.3, "learning_rate": 1e-4, "epoch": epoch,
                        "step": 3 * epoch})
        history.append({"eval_loss": 1.6 / epoch, "eval_song_top1": epoch / 4, "eval_runtime": 0.1, "epoch": epoch,
                        "step": 3 * epoch})
    history.append({"train_runtime": 1.0, "train_loss": 0.9, "epoch": 3.0, "step": 9})
    path = tmp_path / TRAINING_CURVES
    drawn = plot_training_curves(history, path)
    assert drawn == {"training loss": ([1.0, 2.0, 3.0], [1.5, 0.75, 0.5]),
                     "validation loss": ([1.0, 2.0, 3.0], [1.6, 0.8, pytest.approx(1.6 / 3)]),
                     "validation song top-1": ([1.0, 2.0, 3.0], [0.25, 0.5, 0.75])}
    assert path.read_bytes()[:8] == PNG


def test_curves_of_a_run_without_validation_shorter_than_an_epoch(tmp_path):
    # max_steps under one epoch with logging by epoch: only the end-of-run summary holds a loss.
    history = [{"train_runtime": 1.0, "train_samples_per_second": 9.0, "train_loss": 1.1, "epoch": 0.5, "step": 2}]
    path = tmp_path / TRAINING_CURVES
    assert plot_training_curves(history, path) == {"training loss": ([0.5], [1.1])}
    assert path.read_bytes()[:8] == PNG
    assert training_curves([]) == {}
    plot_training_curves([], tmp_path / "empty.png")  # nothing logged at all still draws (empty) axes
    assert (tmp_path / "empty.png").read_bytes()[:8] == PNG


def test_a_training_run_leaves_its_curves(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(training, "plot_training_curves",
                        lambda history, path: drawn.append(plot_training_curves(history, path)) or drawn[-1])
    dataset = make_segment_dataset(tmp_path / "dataset")
    output = tmp_path / "run"
    assert train_main(["--dataset", str(dataset), "--output_dir", str(output), "--num_train_epochs", "2",
                       *QUICK]) == 0
    assert (output / TRAINING_CURVES).read_bytes()[:8] == PNG
    # What the run logged: two epochs of losses and of validation song top-1.
    [curves] = drawn
    assert {name: epochs for name, (epochs, _) in curves.items()} == {
        "training loss": [1.0, 2.0], "validation loss": [1.0, 2.0], "validation song top-1": [1.0, 2.0]}
    assert all(0 <= value <= 1 for value in curves["validation song top-1"][1])


def test_a_run_without_validation_and_under_an_epoch_leaves_its_curves(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(training, "plot_training_curves",
                        lambda history, path: drawn.append(plot_training_curves(history, path)) or drawn[-1])
    dataset = make_segment_dataset(tmp_path / "dataset", songs={"train": 2, "test": 1})
    output = tmp_path / "run"
    assert train_main(["--dataset", str(dataset), "--output_dir", str(output), "--max_steps", "1", *QUICK]) == 0
    assert (output / TRAINING_CURVES).read_bytes()[:8] == PNG
    [curves] = drawn  # one step of three: only the run's mean loss, at a third of an epoch
    assert list(curves) == ["training loss"] and curves["training loss"][0] == [pytest.approx(1 / 3, abs=0.01)]
