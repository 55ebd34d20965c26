"""Names are data: song and singer names reach CSV cells, TSV rows, file names and ffmpeg
without being read as formulas, rows, paths or protocols, and singer names that would
break the gallery are refused before any song is read."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ranked_model, write_tone
from singerid.commands.embed import main as embed_main
from singerid.commands.enroll import main as enroll_main
from singerid.commands.predict import main as predict_main
from singerid.enrollment import singers_from_folder
from singerid.errors import SingeridError
from singerid.gallery import GALLERY_FILE, UNKNOWN_LABEL, Gallery

RATE = 24000  # tiny-mert's rate: no resampling
PLAIN = {"separator": "none", "remove_silence": False, "segment_seconds": 5.0, "sampling_rate": RATE}
# The ranked model's classes renamed: the best three look like formulas to a spreadsheet.
FORMULA_SINGERS = {0: "ann", 1: "=SUM(1,2)", 2: "+cat", 3: "@dan"}


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    model = ranked_model(PLAIN)
    model.config.id2label = dict(FORMULA_SINGERS)
    model.config.label2id = {name: index for index, name in FORMULA_SINGERS.items()}
    folder = tmp_path_factory.mktemp("names") / "model"
    model.save_pretrained(folder)
    return folder


def _predict(model_folder, *argv) -> int:
    return predict_main(["--model", str(model_folder), "--workers", "1", *map(str, argv)])


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


# -- A: CSV cells ------------------------------------------------------------------------------
def test_formula_like_names_are_neutralised_in_csvs_unless_raw_cells(model_folder, tmp_path):
    song = write_tone(tmp_path / "songs" / "-1+2.wav", seconds=6.0, rate=RATE)
    for raw in (False, True):
        out = tmp_path / ("raw" if raw else "safe")
        assert _predict(model_folder, "--input", song, "--output", out / "answers.csv", "--scores",
                        "--timeline", out / "timelines", *(["--raw_cells"] if raw else [])) == 0
        [answer] = _rows(out / "answers.csv")
        [header, *chunks] = _rows(out / "timelines" / "-1+2.csv")
        quote = "" if raw else "'"
        assert answer[0] == f"{quote}-1+2"
        assert answer[1::2] == [f"{quote}=SUM(1,2)", f"{quote}+cat", f"{quote}@dan"]
        assert all(0 < float(score) <= 1 for score in answer[2::2])  # numbers singerid writes stay numbers
        assert header == ["chunk", "start_s", "end_s", "spans", f"{quote}=SUM(1,2)", f"{quote}+cat", f"{quote}@dan"]
        assert chunks and all(float(cell) >= 0 for row in chunks for cell in row[4:])


def test_the_reports_csvs_neutralise_singer_names(tmp_path):
    import numpy as np

    from singerid.reports import write_confusion_matrix, write_per_artist_table

    class Songs:
        labels, predictions = np.array([0, 1]), np.array([0, 0])

    names = ["=cmd|' /C calc'!A0", "-bob"]
    write_per_artist_table(Songs, names, tmp_path / "per_artist.csv")
    assert [row[0] for row in _rows(tmp_path / "per_artist.csv")] == ["artist", "'=cmd|' /C calc'!A0", "'-bob"]
    _, matrix = write_confusion_matrix(Songs, names, tmp_path, title="t")
    header, *rows = _rows(matrix)
    assert header[1:] == ["'=cmd|' /C calc'!A0", "'-bob"] and [row[0] for row in rows] == header[1:]


# -- B, C: errors files ---------------------------------------------------------------------------
def _broken_songs(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    songs = [folder / "tab\there.mp3", folder / "new\nline.mp3", folder / "back\\slash.mp3"]
    for song in songs:
        song.write_text("not audio")
    return songs


def _escaped(path: Path) -> str:
    return str(path).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def test_errors_files_have_one_escaped_row_per_failed_song(model_folder, tmp_path):
    good = write_tone(tmp_path / "good" / "fine.wav", seconds=6.0, rate=RATE)
    broken = _broken_songs(tmp_path / "broken")
    answers, errors = tmp_path / "out" / "answers.csv", tmp_path / "out" / "answers.errors.tsv"
    assert _predict(model_folder, "--input", good, *broken, "--output", answers) == 0
    rows = [line.split("\t") for line in errors.read_text(encoding="utf-8").splitlines()]
    assert [row[0] for row in rows] == [_escaped(path) for path in broken]
    assert all(len(row) == 2 for row in rows)

    embeddings = tmp_path / "embeddings"
    assert embed_main(["--model", str(model_folder), "--workers", "1", "--input", str(good),
                       *map(str, broken), "--output", str(embeddings)]) == 0
    rows = [line.split("\t") for line in (embeddings / "errors.tsv").read_text(encoding="utf-8").splitlines()]
    assert [row[0] for row in rows] == [_escaped(path) for path in broken] and all(len(row) == 2 for row in rows)


def test_a_clean_rerun_removes_the_errors_file_of_the_run_before(model_folder, tmp_path):
    good = write_tone(tmp_path / "good" / "fine.wav", seconds=6.0, rate=RATE)
    [broken] = _broken_songs(tmp_path / "broken")[:1]
    answers, errors = tmp_path / "out" / "answers.csv", tmp_path / "out" / "answers.errors.tsv"
    embeddings = tmp_path / "embeddings"
    assert _predict(model_folder, "--input", good, broken, "--output", answers) == 0
    assert embed_main(["--model", str(model_folder), "--workers", "1", "--input", str(good), str(broken),
                       "--output", str(embeddings)]) == 0
    assert errors.is_file() and (embeddings / "errors.tsv").is_file()

    assert _predict(model_folder, "--input", good, "--output", answers) == 0
    assert answers.is_file() and not errors.exists()
    assert embed_main(["--model", str(model_folder), "--workers", "1", "--input", str(good),
                       "--output", str(embeddings)]) == 0
    assert not (embeddings / "errors.tsv").exists()


# -- D: per-song file names ------------------------------------------------------------------------
def test_a_dot_song_id_writes_its_timeline_inside_the_folder_not_over_the_answers(model_folder, tmp_path):
    song = write_tone(tmp_path / "songs" / "dot.wav", seconds=6.0, rate=RATE).rename(tmp_path / "songs" / "..wav")
    answers, timelines = tmp_path / "out" / "answers.csv", tmp_path / "out" / "answers"
    assert _predict(model_folder, "--input", song, "--output", answers, "--timeline", timelines) == 0
    [answer] = _rows(answers)
    assert answer[0] == "." and len(answer) == 4  # the answers file, not a timeline written over it
    written = [path for path in timelines.rglob("*") if path.is_file() and path.name != "singerid_run.json"]
    assert sorted(path.suffix for path in written) == [".csv", ".png"]
    assert all(path.resolve().is_relative_to(timelines.resolve()) for path in written)


def test_timeline_names_stay_inside_their_folder_and_apart():
    from singerid.names import file_names as timeline_names

    ids = [".", "..", "", "a", "a\x1b", "A", "x/../../y", "x/./y", "x//y", "/etc/passwd", "b\u202ec", "b"]
    names = timeline_names(ids)
    assert len(names) == len(ids) and len({name.casefold() for name in names}) == len(ids)
    root = Path("/folder")
    for name in names:
        parts = Path(name).parts
        assert parts and not Path(name).is_absolute() and not {".", "..", ""} & set(parts)
        assert all(ch.isprintable() for ch in name) and (root / name).resolve().is_relative_to(root)
    assert names[3] == "a" and names[6].endswith("y") and timeline_names(["p/q", "r"]) == ["p/q", "r"]


# -- E: ffmpeg reads files, never protocols ---------------------------------------------------------
def test_a_song_named_like_an_ffmpeg_protocol_is_read_as_a_file(model_folder, tmp_path):
    songs = tmp_path / "songs"
    write_tone(songs / "pipe:0.wav", seconds=6.0, rate=RATE)
    command = [sys.executable, "-m", "singerid", "predict", "--model", str(model_folder), "--input", ".",
               "--output", str(tmp_path / "answers.csv"), "--workers", "1"]
    # stdin stays open and silent: ffmpeg reading "pipe:0" as a protocol would wait on it forever.
    process = subprocess.Popen(command, cwd=songs, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("predict hung on a song named pipe:0.wav (ffmpeg read it as standard input)")
    finally:
        process.stdin.close()
    assert process.returncode == 0, err.decode()[-2000:]
    assert _rows(tmp_path / "answers.csv")[0][:2] == ["pipe:0", "'=SUM(1,2)"]


# -- F: singer names ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [UNKNOWN_LABEL, "", "  ", "new\nline", "tab\tsinger", "evil\u202eenil", "bell\x07",
                                  "iso\u2066late"])
def test_reserved_and_invalid_singer_names_are_refused_before_any_song_is_read(name, model_folder, tmp_path,
                                                                                 capsys):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(model_folder, model)
    song = write_tone(tmp_path / "song.wav", seconds=6.0, rate=RATE)
    assert enroll_main(["--model", str(model), "--singer", "ok", "--input", str(song), "--workers", "1"]) == 0
    before = (model / GALLERY_FILE).read_bytes()
    capsys.readouterr()
    other = write_tone(tmp_path / "other.wav", seconds=6.0, rate=RATE, freq=330.0)
    assert enroll_main(["--model", str(model), "--singer", name, "--input", str(other), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "singer name" in err
    assert (model / GALLERY_FILE).read_bytes() == before


def test_the_gallery_and_singer_folders_refuse_the_same_names(tmp_path):
    import numpy as np

    gallery = Gallery()
    for name in (UNKNOWN_LABEL, "", "a\u202eb", "a\x00b"):
        with pytest.raises(SingeridError, match="singer name"):
            gallery.enroll(name, ["h"], np.ones((1, 4), dtype=np.float32))
    assert len(gallery) == 0
    assert gallery.enroll("=SUM(1,2)", ["h"], np.ones((1, 4), dtype=np.float32)) == 1  # formula-like: allowed
    write_tone(tmp_path / "root" / "fine" / "a.wav", seconds=1.0)
    write_tone(tmp_path / "root" / "bad\x1bname" / "a.wav", seconds=1.0)
    with pytest.raises(SingeridError, match="singer name"):
        singers_from_folder(tmp_path / "root")
