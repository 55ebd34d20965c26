"""Preprocessing end to end: the saved DatasetDict, its report, config and card."""

import json

import numpy as np
import pytest
from datasets import Audio, ClassLabel, load_from_disk
from huggingface_hub import DatasetCard

from helpers import make_album_corpus
from singerid.commands.preprocess import main as preprocess_main
from singerid.preprocessing import PreprocessConfig


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("prep")
    corpus = make_album_corpus(root / "corpus", artists=3, albums=6, seconds=7.0)
    out = root / "dataset"
    code = preprocess_main(["--input", str(corpus), "--output", str(out), "--separator", "none",
                            "--sampling-rate", "16000", "--cache-dir", str(root / "cache")])
    assert code == 0
    return corpus, out


def test_dataset_has_three_splits_and_the_declared_features(built):
    _, out = built
    dataset = load_from_disk(str(out))
    assert set(dataset) == {"train", "validation", "test"}
    features = dataset["train"].features
    assert isinstance(features["audio"], Audio) and features["audio"].sampling_rate == 16000
    assert isinstance(features["label"], ClassLabel)
    assert features["label"].names == ["artist_0", "artist_1", "artist_2"]
    for column in ("artist", "album", "song_id", "segment_index", "start_s", "end_s"):
        assert column in features


def test_segments_are_five_seconds_of_cleaned_audio(built):
    _, out = built
    train = load_from_disk(str(out))["train"]
    row = train[0]
    audio = row["audio"]
    assert audio["sampling_rate"] == 16000
    assert len(audio["array"]) == 5 * 16000
    # 7 s with 1 s of silence cut → 6 s: one full segment, the 1 s tail dropped (< 2.5 s).
    per_song = {}
    for song_id, index, start, end in zip(train["song_id"], train["segment_index"], train["start_s"], train["end_s"]):
        per_song.setdefault(song_id, []).append((index, start, end))
    assert all(len(rows) == 1 for rows in per_song.values())
    assert all(rows[0][1] == 0.0 and rows[0][2] == pytest.approx(5.0) for rows in per_song.values())


def test_splits_are_album_disjoint_and_follow_the_rule(built):
    _, out = built
    dataset = load_from_disk(str(out))
    albums = {split: set(zip(ds["artist"], ds["album"])) for split, ds in dataset.items()}
    songs = {split: set(ds["song_id"]) for split, ds in dataset.items()}
    assert not albums["train"] & albums["validation"] and not albums["train"] & albums["test"]
    assert not albums["validation"] & albums["test"]
    assert not songs["train"] & songs["test"] and not songs["validation"] & songs["test"]
    assert {album for _, album in albums["validation"]} == {"album_4"}
    assert {album for _, album in albums["test"]} == {"album_5"}
    assert len(albums["train"]) == 3 * 4
    labels = dataset["test"].features["label"]
    assert all(labels.int2str(label) == artist for label, artist in zip(dataset["test"]["label"], dataset["test"]["artist"]))


def test_report_config_and_card_are_written(built):
    corpus, out = built
    report = json.loads((out / "preprocess_report.json").read_text())
    assert report["summary"]["ok"] == 18 and report["summary"]["skipped"] == 0
    song = report["songs"]["artist_0/album_0/01-song"]
    assert song["status"] == "ok" and song["split"] == "train"
    assert song["seconds_in"] == pytest.approx(7.0, abs=0.01)
    assert song["seconds_kept"] == pytest.approx(6.0, abs=0.1)
    assert song["num_segments"] == 1 and song["source"].endswith("01-song.flac")
    config = PreprocessConfig.load(out)
    assert config.separator == "none" and config.sampling_rate == 16000 and config.hop_seconds == 5.0
    card = DatasetCard.load(out / "README.md")
    assert "audio-classification" in card.data.task_categories
    assert "| train | 12 | 12 | 12 |" in card.text  # songs, segments, albums
    assert "| validation | 3 | 3 | 3 |" in card.text
    assert "silence_db" in card.text


def test_hop_and_min_segment_options(tmp_path):
    corpus = make_album_corpus(tmp_path / "corpus", artists=1, albums=3, seconds=12.0)
    out = tmp_path / "out"
    assert preprocess_main(["--input", str(corpus), "--output", str(out), "--separator", "none",
                            "--sampling-rate", "8000", "--segment-seconds", "4", "--hop-seconds", "2",
                            "--min-segment-seconds", "0", "--no-remove-silence"]) == 0
    test = load_from_disk(str(out))["test"]
    # 12 s, 4 s windows every 2 s: starts 0..8 cover it exactly; any tail would be kept.
    assert test["start_s"] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert np.asarray(test[0]["audio"]["array"]).shape == (4 * 8000,)



def test_the_dataset_cards_command_repeats_the_preprocessing(tmp_path):
    import re
    import shlex

    from singerid.commands import parse
    from singerid.commands.preprocess import PreprocessArguments
    from singerid.preprocessing import PreprocessConfig

    corpus = make_album_corpus(tmp_path / "corpus", artists=1, albums=3, seconds=3.0)
    out = tmp_path / "out"
    assert preprocess_main(["--input", str(corpus), "--output", str(out), "--separator", "none",
                            "--sampling-rate", "8000", "--no-remove-silence"]) == 0
    command = re.search(r"python scripts/preprocess.py (.*)", (out / "README.md").read_text()).group(1)
    _, config = parse(shlex.split(command), PreprocessArguments, PreprocessConfig, prog="preprocess", description="")
    assert config == PreprocessConfig.load(out)


def test_no_audio_at_all_is_a_clear_failure(tmp_path, capsys):
    (tmp_path / "corpus" / "a" / "b").mkdir(parents=True)
    (tmp_path / "corpus" / "a" / "b" / "notes.txt").write_text("hi")
    code = preprocess_main(["--input", str(tmp_path / "corpus"), "--output", str(tmp_path / "out"), "--separator", "none"])
    assert code != 0
    assert "no audio files found" in capsys.readouterr().err


def test_missing_input_folder_is_a_clear_failure(tmp_path, capsys):
    code = preprocess_main(["--input", str(tmp_path / "nope"), "--output", str(tmp_path / "out")])
    assert code != 0
    assert "no such folder" in capsys.readouterr().err
