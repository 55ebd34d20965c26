"""Never overwrite what is not yours: a command writes into a folder only when it is new or
empty, or holds an earlier output of the same command; anything else needs --overwrite."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path

import pytest

from helpers import make_album_corpus, ranked_model, write_tone
from singerid.commands import main as cli_main
from singerid.gallery import GALLERY_FILE, Gallery
from singerid.outputs import RUN_RECORD, OutputInUse, claim_output

PREPROCESSING = {"separator": "none", "remove_silence": False, "segment_seconds": 5.0, "sampling_rate": 24000}


def _run(argv: list[str]) -> tuple[int, list[str]]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = cli_main(argv)
    return code, [line for line in stderr.getvalue().splitlines() if line.startswith("error:")]


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture
def foreign(tmp_path) -> Path:
    """A user's folder: files no singerid command wrote."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "README.md").write_text("my notes\n")
    (folder / "preprocess_config.json").write_text('{"mine": true}\n')
    return folder


# Every command that writes a folder, pointed at the user's folder; the refusal comes before
# any input is read, so the other arguments need not exist.
FOLDER_COMMANDS = {
    "preprocess": ["preprocess", "--input", "{song_dir}", "--output", "{out}"],
    "train": ["train", "--dataset", "{song_dir}", "--output_dir", "{out}"],
    "evaluate_model": ["evaluate_model", "--model", "{song_dir}", "--dataset", "{song_dir}", "--output", "{out}"],
    "probe": ["probe", "--dataset", "{song_dir}", "--backbone", "tiny-mert", "--output", "{out}"],
    "embed": ["embed", "--model", "{song_dir}", "--input", "{song_dir}", "--output", "{out}"],
    "predict --timeline": ["predict", "--model", "{song_dir}", "--input", "{song_dir}", "--output",
                           "{song_dir}/answers.csv", "--timeline", "{out}"],
    "reproduce_table": ["reproduce_table", "--data", "{song_dir}", "--output", "{out}"],
    "make_demo_corpus": ["make_demo_corpus", "--out", "{out}"],
    "download_artist20": ["download_artist20", "--output", "{out}", "--url", "http://127.0.0.1:9/a.tgz"],
    "demo": ["demo", "--output", "{out}"],
    "space": ["space", "--model", "{song_dir}", "--output", "{out}"],
}


@pytest.mark.parametrize("name", FOLDER_COMMANDS)
def test_every_command_refuses_a_folder_of_someone_elses_files_and_leaves_them_alone(name, foreign, tmp_path):
    song_dir = write_tone(tmp_path / "songs" / "song.wav", seconds=1.0).parent
    before = _snapshot(foreign)
    argv = [part.format(song_dir=song_dir, out=foreign) for part in FOLDER_COMMANDS[name]]
    code, errors = _run(argv)
    assert code == 1 and len(errors) == 1, errors
    assert str(foreign) in errors[0] and "--overwrite" in errors[0] and "README.md" in errors[0]
    assert _snapshot(foreign) == before and not (foreign / RUN_RECORD).exists()


def test_preprocess_writes_into_a_foreign_folder_only_with_overwrite_and_reruns_into_its_own(foreign, tmp_path):
    corpus = make_album_corpus(tmp_path / "corpus", artists=2, albums=3, seconds=2.0)
    argv = ["preprocess", "--input", str(corpus), "--output", str(foreign), "--separator", "none",
            "--sampling-rate", "16000", "--cache-dir", str(tmp_path / "cache")]
    assert _run(argv)[0] == 1
    assert (foreign / "preprocess_config.json").read_text() == '{"mine": true}\n'
    assert _run([*argv, "--overwrite"]) == (0, [])
    record = json.loads((foreign / RUN_RECORD).read_text())
    assert record["command"] == "preprocess" and "--overwrite" in record["arguments"]
    assert str(tmp_path) not in (foreign / RUN_RECORD).read_text()  # no path of this machine
    assert _run(argv) == (0, [])  # its own output now: a rerun needs nothing more


def test_an_earlier_versions_output_is_recognised_by_its_files(tmp_path):
    old = tmp_path / "dataset"
    old.mkdir()
    (old / "preprocess_report.json").write_text("{}")
    (old / "dataset_dict.json").write_text("{}")
    claim_output(old, "preprocess", [])  # no error: an earlier preprocess wrote it
    with pytest.raises(OutputInUse, match="--overwrite"):
        claim_output(old, "probe", [])  # but it is not a probe's
    claim_output(tmp_path / "new" / "run", "train", [])  # a new folder is made
    assert json.loads((tmp_path / "new" / "run" / RUN_RECORD).read_text())["command"] == "train"


# -- enroll ------------------------------------------------------------------------------
@pytest.fixture
def models(tmp_path):
    song = write_tone(tmp_path / "songs" / "eve.wav", seconds=3.0, rate=24000)
    ranked_model(PREPROCESSING).save_pretrained(tmp_path / "a")
    other = ranked_model(PREPROCESSING)
    other.config.strategy = "finetune"
    other.save_pretrained(tmp_path / "b")
    (tmp_path / "b" / "checkpoint-1").mkdir()
    (tmp_path / "b" / "checkpoint-1" / "trainer_state.json").write_text("{}")
    return {"a": tmp_path / "a", "b": tmp_path / "b", "song": song}


def test_enroll_never_merges_into_another_model(models):
    before = _snapshot(models["b"])
    for extra in ([], ["--overwrite"]):
        code, errors = _run(["enroll", "--model", str(models["a"]), "--singer", "eve", "--input", str(models["song"]),
                             "--output", str(models["b"]), "--workers", "1", *extra])
        assert code == 1 and len(errors) == 1 and "another model" in errors[0], errors
        assert f"--model {models['b']}" in errors[0]
    assert _snapshot(models["b"]) == before


def test_enroll_with_output_equal_to_model_enrolls_in_place(models):
    code, errors = _run(["enroll", "--model", str(models["a"]), "--singer", "eve", "--input", str(models["song"]),
                         "--output", str(models["a"]) + "/", "--workers", "1"])
    assert (code, errors) == (0, [])
    assert "eve" in Gallery.load(models["a"] / GALLERY_FILE).singers
    assert not (models["a"] / RUN_RECORD).exists()  # in place: the model's folder is not enroll's output


def test_enroll_into_a_new_folder_then_again_into_that_copy(models, tmp_path):
    copy = tmp_path / "enrolled"
    argv = ["enroll", "--model", str(models["a"]), "--singer", "eve", "--input", str(models["song"]),
            "--output", str(copy), "--workers", "1"]
    assert _run(argv) == (0, [])
    assert _run(argv) == (0, [])  # an earlier enrollment's copy is enroll's own output
    assert "eve" in Gallery.load(copy / GALLERY_FILE).singers
    assert not (models["a"] / GALLERY_FILE).exists()  # the source model is untouched
