"""Copies of one recording on several albums are found before the split and kept in one
split: byte-identical copies by digest, re-encoded ones by Chromaprint fingerprint."""

import json
import logging
import shutil
import subprocess
from pathlib import Path

import pytest
from datasets import load_from_disk

from helpers import make_album_corpus, write_tone
from singerid.commands.preprocess import main as preprocess_main
from singerid.preprocessing import PreprocessConfig, preprocess_corpus
from singerid.preprocessing import duplicates
from singerid.preprocessing.corpus import find_songs
from singerid.preprocessing.duplicates import duplicate_groups, identify
from singerid.recipes.demo_corpus import synthesize_corpus

CONFIG = PreprocessConfig(sampling_rate=16000, separator="none")
ARTIST, OTHER = "aurora_vale", "benny_marsh"  # the demo corpus's first two singers, over the same backings
COMPILATION, SINGLE = "1980_best_of", "1985_single"  # sorted first (train) and fourth (validation)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two singers, three albums of two songs each (album k's songs are the same backings for
    both); the first singer's test song copied byte for byte into a compilation, and a train
    song re-encoded as mp3 into a single."""
    root = tmp_path_factory.mktemp("duplicates") / "corpus"
    synthesize_corpus(root, seed=0, singers=2, albums=3, songs=2, seconds=20.0, sampling_rate=22050, progress=False)
    albums = sorted(path.name for path in (root / ARTIST).iterdir())
    test_song = sorted((root / ARTIST / albums[2]).glob("*.flac"))[0]
    train_song = sorted((root / ARTIST / albums[0]).glob("*.flac"))[0]
    (root / ARTIST / COMPILATION).mkdir()
    shutil.copyfile(test_song, root / ARTIST / COMPILATION / "07-hit.flac")
    (root / ARTIST / SINGLE).mkdir()
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(train_song), "-b:a", "96k",
                    str(root / ARTIST / SINGLE / "01-single.mp3")], check=True)
    identical = sorted([f"{ARTIST}/{COMPILATION}/07-hit", _song_id(root, test_song)])
    reencoded = sorted([f"{ARTIST}/{SINGLE}/01-single", _song_id(root, train_song)])
    return root, identical, reencoded


def _song_id(root: Path, path: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def _split_of(dataset) -> dict[str, str]:
    return {song_id: split for split, part in dataset.items() for song_id in part["song_id"]}


def test_copies_are_found_reported_and_kept_in_one_split(corpus, tmp_path, caplog):
    root, identical, reencoded = corpus
    with caplog.at_level(logging.WARNING):
        result = preprocess_corpus(root, tmp_path / "out", CONFIG, cache_dir=tmp_path / "cache")
    split_of = _split_of(result.dataset)
    # By the album rule the compilation is train and the copied song test; the single is
    # validation and its source train: each pair now lies in train.
    assert [split_of[song_id] for song_id in identical] == ["train", "train"]
    assert [split_of[song_id] for song_id in reencoded] == ["train", "train"]
    assert result.duplicates == [
        {"songs": dict.fromkeys(identical, "train"), "identical": True, "moved": {identical[1]: "test"}},
        {"songs": dict.fromkeys(reencoded, "train"), "identical": False, "moved": {reencoded[1]: "validation"}},
    ]  # and nothing else: the two singers over one backing are not copies
    assert result.shared_albums == {}  # a moved copy is a duplicate, not its album split up
    report = json.loads((tmp_path / "out" / "preprocess_report.json").read_text())
    assert report["duplicates"] == result.duplicates
    assert report["songs"][identical[1]]["split"] == "train"
    for song_id in (*identical, *reencoded):
        assert song_id in caplog.text
    assert "has songs in several splits" not in caplog.text


def test_split_lists_decide_unless_told_to_move_copies(corpus, tmp_path, caplog):
    root, identical, reencoded = corpus
    songs = [song.song_id for song in find_songs(root)]
    lists = {"train": [song_id for song_id in songs if song_id not in (identical[1], reencoded[1])],
             "validation": [reencoded[1]], "test": [identical[1]]}
    for split, listed in lists.items():
        (tmp_path / f"{split}.list").write_text("\n".join(listed) + "\n")
    out = tmp_path / "listed"
    with caplog.at_level(logging.WARNING):
        assert preprocess_main(["--input", str(root), "--output", str(out), "--split-lists", str(tmp_path),
                                "--separator", "none", "--sampling-rate", "16000",
                                "--cache-dir", str(tmp_path / "cache")]) == 0
    report = json.loads((out / "preprocess_report.json").read_text())
    assert report["duplicates"] == [
        {"songs": {identical[0]: "train", identical[1]: "test"}, "identical": True, "moved": {}},
        {"songs": {reencoded[0]: "train", reencoded[1]: "validation"}, "identical": False, "moved": {}},
    ]
    assert _split_of(load_from_disk(str(out)))[identical[1]] == "test"
    assert "in several splits, as the split lists put them" in caplog.text
    assert "2 group(s) of copies of one recording" in (out / "README.md").read_text()  # the dataset card

    moved = preprocess_corpus(root, tmp_path / "moved", CONFIG, split_lists=tmp_path, cache_dir=tmp_path / "cache",
                              move_listed_duplicates=True)
    assert [entry["moved"] for entry in moved.duplicates] == [{identical[1]: "test"}, {reencoded[1]: "validation"}]


def test_the_check_can_be_turned_off(corpus, tmp_path):
    root, identical, _ = corpus
    out = tmp_path / "out"
    assert preprocess_main(["--input", str(root), "--output", str(out), "--separator", "none", "--sampling-rate",
                            "16000", "--cache-dir", str(tmp_path / "cache"), "--find-duplicates", "false"]) == 0
    assert json.loads((out / "preprocess_report.json").read_text())["duplicates"] == []
    assert _split_of(load_from_disk(str(out)))[identical[1]] == "test"
    assert not (tmp_path / "cache" / "fingerprints").exists()


def test_tone_songs_and_short_copies_are_not_copies(tmp_path):
    # Tones score 0.88-0.96 bit agreement against each other, but repeat their
    # sub-fingerprints, so no alignment has enough equal ones.
    root = make_album_corpus(tmp_path / "split_tests", artists=3, albums=3, seconds=12.0)
    # 12 s is too short to be checked, even for a byte-identical copy.
    shutil.copytree(root / "artist_0" / "album_0", root / "artist_0" / "album_9")
    for freq in (180.0, 185.0, 360.0):  # longer, with gaps at the same places, and an octave apart
        write_tone(root / "tones" / f"album_{freq:.0f}" / "01-song.flac", seconds=40.0, freq=freq,
                   silent_spans=tuple((start, start + 1.0) for start in range(2, 40, 5)))
    songs = find_songs(root)
    identities = [identify(song.path, tmp_path / "cache") for song in songs]
    assert len({identity.digest for identity in identities}) == len(songs) - 1
    assert duplicate_groups([song.song_id for song in songs], identities) == []


def test_fingerprints_are_cached_by_content_and_unreadable_files_have_none(tmp_path, monkeypatch):
    song = write_tone(tmp_path / "a.flac", seconds=12.0)
    first = identify(song, tmp_path / "cache")
    assert len(first.fingerprint) > 0
    assert len(list((tmp_path / "cache" / "fingerprints").rglob(f"{first.digest}.chromaprint"))) == 1

    def fail(path):
        raise AssertionError("fingerprinted again")

    monkeypatch.setattr(duplicates, "fingerprint", fail)
    copy = shutil.copyfile(song, tmp_path / "moved.flac")
    assert identify(copy, tmp_path / "cache").fingerprint.tolist() == first.fingerprint.tolist()
    monkeypatch.undo()
    text = tmp_path / "text.mp3"
    text.write_text("not audio\n")
    assert len(identify(text, tmp_path / "cache").fingerprint) == 0
    assert identify(tmp_path / "missing.flac", tmp_path / "cache").digest is None
