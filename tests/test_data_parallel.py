"""Under nn.DataParallel (Trainer's choice with several GPUs and no distributed launch) each
replica gets the lengths of its own inputs. DataParallel's scatter is emulated on CPU: its
`Scatter.apply` chunks tensors along the batch, as it does across GPUs; every other argument
goes whole to each replica, by DataParallel's own code."""

from unittest import mock

import numpy as np
import pytest
import torch
from torch.nn.parallel._functions import Scatter
from transformers import TrainingArguments

from singerid import SingerClassifier
from singerid.data import AudioCollator, pad_batch
from singerid.training import SingerTrainer

RATE = 24000


@pytest.fixture
def two_replicas(monkeypatch):
    monkeypatch.setattr(Scatter, "apply", staticmethod(lambda gpus, sizes, dim, tensor: tensor.chunk(len(gpus), dim)))
    return [0, 1]


def _model():
    torch.manual_seed(0)
    return SingerClassifier.from_backbone("tiny-mert", id2label={0: "ann", 1: "bob"}, chunk_seconds=1.0).eval()


def _wrapped(model, tmp_path):
    """The model as Trainer wraps it when it sees two GPUs."""
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    trainer = SingerTrainer(model=model, args=args)
    with mock.patch.object(TrainingArguments, "n_gpu", new_callable=mock.PropertyMock, return_value=2):
        wrapped = trainer._wrap_model(model, training=False)
    wrapped.dim = 0  # DataParallel's own default, which it sets only where it finds GPUs
    return wrapped


def _waves(seconds):
    rng = np.random.default_rng(0)
    return [(rng.standard_normal(round(s * RATE)) * 0.1).astype(np.float32) for s in seconds]


def _replicas_logits(wrapped, devices, inputs, kwargs):
    """Each replica's forward of its piece, rows in batch order (as DataParallel gathers them)."""
    pieces, piece_kwargs = wrapped.scatter(inputs, kwargs, devices)
    assert len(pieces) == len(devices)
    with torch.no_grad():
        return torch.cat([wrapped.module(*piece, **options).logits for piece, options in zip(pieces, piece_kwargs)])


def test_each_replica_gets_the_lengths_of_its_training_segments(two_replicas, tmp_path):
    model = _model()
    collator = AudioCollator.for_model(model.config)  # fixed-length segments, short ones padded
    batch = collator([{"audio": {"array": wave, "sampling_rate": RATE}, "label": i % 2}
                      for i, wave in enumerate(_waves([1.0, 0.4, 1.0, 0.7, 0.2]))])
    with torch.no_grad():
        one_device = model(**batch).logits
    replicas = _replicas_logits(_wrapped(model, tmp_path), two_replicas, (), batch)
    torch.testing.assert_close(replicas, one_device, rtol=0, atol=1e-5)


def test_each_replica_gets_the_lengths_of_its_songs(two_replicas, tmp_path):
    model = _model()
    waves = _waves([2.6, 0.3, 2.2])  # chunked inside the model: 3, 1 and 2 chunks
    inputs, mask = pad_batch(waves)
    options = {"attention_mask": mask, "input_lengths": [len(wave) for wave in waves]}  # as prediction passes them
    with torch.no_grad():
        one_device = model(inputs, **options).logits
    replicas = _replicas_logits(_wrapped(model, tmp_path), two_replicas, (inputs,), options)
    torch.testing.assert_close(replicas, one_device, rtol=0, atol=1e-5)
