"""A downloaded model's numbers cannot exhaust the machine.

Every numeric field of the model config, of the preprocessing it carries and of its
gallery's calibration, enumerated from the classes themselves, is set in turn to 0, a
negative value, NaN, infinity, a huge and a tiny positive value. Loading, as prediction
loads, either refuses with one line naming the field, or accepts the value; every accepted
value then predicts one short song in a subprocess under a memory limit (RLIMIT_DATA, set
from the unchanged model's own peak) and a timeout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import numpy as np
import pytest

from helpers import ranked_model, write_tone
from singerid.errors import SingeridError
from singerid.gallery import GALLERY_FILE, Calibration, Gallery
from singerid.models.singer.configuration_singer import SingerClassifierConfig
from singerid.prediction import load_model, model_gallery, prediction_config
from singerid.preprocessing import PreprocessConfig

VALUES = {"zero": 0, "negative": -1, "nan": math.nan, "infinity": math.inf, "huge": 1e12, "tiny": 1e-9}
PREPROCESSING = {"separator": "none", "remove_silence": True, "silence_db": -35.0, "min_silence_seconds": 0.5,
                 "segment_seconds": 5.0, "hop_seconds": 5.0, "min_segment_seconds": 2.5, "sampling_rate": 24000}
TIMEOUT_S = 120


def _numeric(annotations: dict) -> list[str]:
    """The names annotated `int` or `float`, alone or in a union such as `float | None` (as
    text, or as types where an argument parser has resolved a dataclass's fields)."""
    def kinds(kind) -> set[str]:
        if isinstance(kind, str):
            return {part.strip() for part in kind.split("|")}
        return {getattr(arg, "__name__", str(arg)) for arg in typing.get_args(kind) or (kind,)}

    return [name for name, kind in annotations.items() if {"int", "float"} & kinds(kind)]


def numeric_fields() -> dict[str, list[str]]:
    """The numeric fields, per file, from the classes that define them: a field added later is covered."""
    return {"config.json": _numeric(SingerClassifierConfig.__annotations__),
            "preprocessing": _numeric({f.name: f.type for f in dataclasses.fields(PreprocessConfig)}),
            GALLERY_FILE: _numeric({f.name: f.type for f in dataclasses.fields(Calibration)})}


def test_the_fields_are_enumerated_from_the_classes():
    fields = numeric_fields()
    assert {"sampling_rate", "chunk_seconds", "chunk_hop_seconds", "chunk_batch_size"} <= set(fields["config.json"])
    assert {"silence_db", "segment_seconds", "hop_seconds"} <= set(fields["preprocessing"])
    assert {"threshold", "false_accept_rate"} <= set(fields[GALLERY_FILE])
    assert "strategy" not in fields["config.json"] and "remove_silence" not in fields["preprocessing"]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict:
    """A model with its preprocessing and a calibrated gallery, and a short song."""
    root = tmp_path_factory.mktemp("checks")
    model = ranked_model(PREPROCESSING)
    model.save_pretrained(root / "base")
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((2, model.config.embedding_size))
    embeddings = np.repeat(centers, 3, axis=0) + 0.1 * rng.standard_normal((6, model.config.embedding_size))
    gallery = Gallery.from_training([f"h{i}" for i in range(6)], ["bob"] * 3 + ["cat"] * 3, embeddings)
    gallery.calibrate()
    gallery.save(root / "base")
    return {"root": root, "model": root / "base", "song": write_tone(root / "song.wav", seconds=8.0, rate=24000)}


def _case(base: dict, where: str, field: str, value) -> Path:
    """A copy of the base model with one field changed (the weights linked, not copied)."""
    folder = base["root"] / f"{where}-{field}-{value}".replace("/", "_")
    if folder.exists():  # made by another test of this module
        return folder
    folder.mkdir()
    (folder / "model.safetensors").symlink_to(base["model"] / "model.safetensors")
    config = json.loads((base["model"] / "config.json").read_text())
    if where == "config.json":
        config[field] = value
    elif where == "preprocessing":
        config["preprocessing"] = {**config["preprocessing"], field: value}
    (folder / "config.json").write_text(json.dumps(config))
    gallery = Gallery.load(base["model"] / GALLERY_FILE)
    if where == GALLERY_FILE:  # written as the file holds it, past the class's own check
        object.__setattr__(gallery.calibration, field, value)
    gallery.save(folder)
    return folder


def _load(folder: Path) -> None:
    """What every prediction route loads before it reads a song."""
    model = load_model(folder)
    prediction_config(model)
    model_gallery(folder)


def test_every_numeric_field_is_refused_in_one_line_or_runs_within_the_limits(base):
    accepted, refused = [], 0
    for where, fields in numeric_fields().items():
        for field in fields:
            for value in VALUES.values():
                folder = _case(base, where, field, value)
                try:
                    _load(folder)
                except (SingeridError, ValueError, OSError) as error:
                    message = str(error)
                    assert "\n" not in message.strip() and field in message, (where, field, value, message)
                    refused += 1
                else:
                    accepted.append(str(folder))
    assert refused and accepted  # both kinds occur, so both halves of the test run

    results = _predict_under_limits([str(base["model"]), *accepted], base["song"])
    assert results[str(base["model"])]["error"] is None and results[str(base["model"])]["labels"]
    for folder in accepted:  # an accepted value predicts the song: no error, no memory or time limit hit
        assert folder in results, f"{folder}: no answer within the limits"
        assert results[folder]["error"] is None and results[folder]["labels"], (folder, results[folder])


def _predict_under_limits(folders: list[str], song: Path) -> dict:
    """Each folder's open-set prediction of `song`, in one subprocess: the first (the unchanged
    model) sets the memory limit (twice its data size once it has predicted), then the others
    run under it; the whole must end within TIMEOUT_S."""
    code = textwrap.dedent(f"""
        import json, resource, sys
        from singerid.prediction import predict_songs

        def data_bytes():
            for line in open("/proc/self/status"):
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024

        results = {{}}
        for index, folder in enumerate({folders!r}):
            if index == 1:  # the unchanged model has run: from here on, twice its data size
                limit = 2 * data_bytes()
                resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
            [prediction] = predict_songs([{str(song)!r}], folder, open_set=True, progress=False, workers=1)
            results[folder] = {{"labels": prediction.labels, "error": prediction.error}}
            print(json.dumps({{folder: results[folder]}}), flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT_S)
    results = {}
    for line in done.stdout.splitlines():
        results.update(json.loads(line))
    assert done.returncode == 0, done.stderr[-3000:]
    return results


def test_every_route_refuses_a_bad_number_in_one_line(base, tmp_path):
    from transformers import pipeline

    from singerid import SingerClassifier
    from singerid.commands import main as cli_main

    hop = _case(base, "config.json", "chunk_hop_seconds", 0.0001)
    with pytest.raises(ValueError, match=r"chunk_hop_seconds = 0\.0001: must be a finite number from 0\.3125 to 5 s"):
        SingerClassifier.from_pretrained(hop)
    with pytest.raises(ValueError, match="chunk_hop_seconds"):
        pipeline("audio-classification", model=str(hop))
    silence = _case(base, "preprocessing", "silence_db", math.inf)
    threshold = _case(base, GALLERY_FILE, "threshold", math.nan)
    for folder, field, extra in ((hop, "chunk_hop_seconds", []), (silence, "silence_db", []),
                                 (threshold, "threshold", ["--open-set"])):
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            code = cli_main(["predict", "--model", str(folder), "--input", str(base["song"]), "--output",
                             str(tmp_path / "answers.csv"), "--workers", "1", *extra])
        [line] = [line for line in stderr.getvalue().splitlines() if line.startswith("error:")]
        assert code == 1 and field in line and not (tmp_path / "answers.csv").exists(), line


def test_unusual_but_sane_training_values_are_accepted():
    config = SingerClassifierConfig(sampling_rate=48000, chunk_seconds=10.0, chunk_hop_seconds=2.5,
                                    chunk_batch_size=64, head_hidden_size=2048, head_dropout=0.5)
    assert config.chunk_samples == 480000
    preprocessing = PreprocessConfig(sampling_rate=48000, segment_seconds=10.0, hop_seconds=2.5, silence_db=-60.0)
    assert preprocessing.hop_seconds == 2.5
