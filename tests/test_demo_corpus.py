"""The synthetic demo corpus: layout, determinism, ground truth and distinct voices."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from singerid.recipes.demo_corpus import ARTIST_NAMES, STEMS_DIR, read_spans, stem_dir_of, synthesize_corpus
from singerid.commands.make_demo_corpus import main

SMALL = dict(singers=2, albums=6, songs=1, seconds=4.0, sampling_rate=16000, progress=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return root, synthesize_corpus(root, **SMALL)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def _mono(path: Path) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(path, always_2d=True)
    return audio.mean(axis=1), sr


def _sung_mask(spans, n: int, sr: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for start, end in spans:
        mask[int(np.floor(start * sr)):int(np.ceil(end * sr))] = True
    return mask


def _median_f0(path: Path, spans) -> float:
    """Autocorrelation pitch, median over 40 ms frames inside the sung spans."""
    x, sr = _mono(path)
    frame = int(0.04 * sr)
    lo, hi = int(sr / 1000), int(sr / 60)
    f0s = []
    for start, end in spans:
        for i in range(int(start * sr), int(end * sr) - frame, frame):
            window = x[i:i + frame] * np.hanning(frame)
            if _rms(window) < 1e-3:
                continue
            ac = np.fft.irfft(np.abs(np.fft.rfft(window, 2 * frame)) ** 2)[:frame]
            f0s.append(sr / (lo + np.argmax(ac[lo:hi])))
    return float(np.median(f0s))


def test_layout_is_artist_album_track(corpus):
    root, songs = corpus
    artists = sorted(p.name for p in root.iterdir() if p.name != STEMS_DIR)
    assert artists == sorted(ARTIST_NAMES[:2])
    assert songs == sorted(root.glob("*/*/*.flac")) and len(songs) == 2 * 6
    for artist in artists:
        albums = sorted(p.name for p in (root / artist).iterdir())
        assert len(albums) == 6
        assert all(re.fullmatch(r"\d{4}_[a-z]+(_[a-z]+)*", name) for name in albums)
        years = [int(name[:4]) for name in albums]
        assert years == sorted(set(years)), "name order must be release order"
        for album in albums:
            tracks = [p.name for p in (root / artist / album).iterdir()]
            assert len(tracks) == 1 and re.fullmatch(r"01-[a-z]+(_[a-z]+)?\.flac", tracks[0])


def test_songs_are_16_bit_flac_at_the_requested_rate_and_channels(corpus):
    root, songs = corpus
    for song in songs:
        info = sf.info(song)
        assert (info.format, info.subtype) == ("FLAC", "PCM_16")
        assert (info.samplerate, info.channels) == (16000, 2)
        assert 0.8 * 4.0 - 0.01 <= info.duration <= 1.2 * 4.0 + 0.01
        stem = sf.info(stem_dir_of(song, root) / "vocals.flac")
        assert (stem.samplerate, stem.channels, stem.frames) == (16000, 2, info.frames)


def test_same_seed_gives_identical_bytes(corpus, tmp_path):
    root, _ = corpus
    synthesize_corpus(tmp_path, **SMALL)
    assert _files(tmp_path) == _files(root)


def test_other_seed_gives_other_audio(corpus, tmp_path):
    root, songs = corpus
    other = synthesize_corpus(tmp_path, **{**SMALL, "seed": 1})
    first, _ = sf.read(songs[0])
    second, _ = sf.read(other[0])
    assert first.shape != second.shape or not np.array_equal(first, second)


def test_adding_songs_keeps_the_existing_ones(tmp_path):
    small = dict(singers=1, albums=1, seconds=4.0, sampling_rate=16000, progress=False)
    one = synthesize_corpus(tmp_path / "one", songs=1, **small)
    two = synthesize_corpus(tmp_path / "two", songs=2, **small)
    assert len(two) == 2
    assert one[0].relative_to(tmp_path / "one") == two[0].relative_to(tmp_path / "two")
    assert one[0].read_bytes() == two[0].read_bytes()


def test_every_song_has_a_vocal_stem_and_spans(corpus):
    root, songs = corpus
    for song in songs:
        stem_dir = stem_dir_of(song, root)
        assert (stem_dir / "vocals.flac").is_file()
        info = json.loads((stem_dir / "spans.json").read_text())
        assert info["sampling_rate"] == 16000
        assert info["duration_s"] == pytest.approx(sf.info(song).duration, abs=1e-3)
        spans = read_spans(stem_dir)
        assert spans and all(isinstance(s, float) for span in spans for s in span)
        bounds = [t for span in spans for t in span]
        assert bounds == sorted(bounds), "spans are ordered and do not overlap"
        assert 0.0 < bounds[0] and bounds[-1] < info["duration_s"], "intro and outro are instrumental"


def test_stem_is_silent_outside_spans_and_sings_inside(corpus):
    root, songs = corpus
    for song in songs:
        vocal, sr = _mono(stem_dir_of(song, root) / "vocals.flac")
        spans = read_spans(stem_dir_of(song, root))
        sung = _sung_mask(spans, len(vocal), sr)
        assert _rms(vocal[~sung]) < 1e-4
        for start, end in spans:
            assert _rms(vocal[int(start * sr):int(end * sr)]) > 0.01


def test_mix_plays_accompaniment_while_the_voice_rests(corpus):
    root, songs = corpus
    for song in songs:
        mix, sr = _mono(song)
        spans = read_spans(stem_dir_of(song, root))
        intro = mix[: int(spans[0][0] * sr)]
        outside = mix[~_sung_mask(spans, len(mix), sr)]
        assert _rms(intro) > 0.01
        assert _rms(outside) > 0.01


def test_mix_is_peak_normalised(corpus):
    _, songs = corpus
    for song in songs:
        mix, _ = sf.read(song)
        assert 0.85 < np.max(np.abs(mix)) <= 0.91


def test_stem_has_the_gain_it_has_in_the_mix(corpus):
    root, songs = corpus
    for song in songs:
        mix, _ = sf.read(song)
        vocal, _ = sf.read(stem_dir_of(song, root) / "vocals.flac")
        # The band is independent of the voice, so the least-squares gain of the stem in the mix is ~1.
        gain = np.sum(mix * vocal) / np.sum(vocal * vocal)
        assert gain == pytest.approx(1.0, abs=0.15)


def test_singers_have_different_registers(corpus):
    root, songs = corpus
    f0 = {}
    for artist in ARTIST_NAMES[:2]:
        artist_songs = [s for s in songs if s.relative_to(root).parts[0] == artist]
        f0[artist] = np.median([_median_f0(stem_dir_of(s, root) / "vocals.flac",
                                           read_spans(stem_dir_of(s, root))) for s in artist_songs])
    low, high = sorted(f0.values())
    assert high / low > 1.5, f0


@pytest.mark.parametrize("channels", [1, 4])
def test_mono_and_multichannel_files(tmp_path, channels):
    songs = synthesize_corpus(tmp_path, singers=1, albums=1, songs=1, seconds=4.0,
                              sampling_rate=16000, channels=channels, progress=False)
    assert sf.info(songs[0]).channels == channels
    assert sf.info(stem_dir_of(songs[0], tmp_path) / "vocals.flac").channels == channels


@pytest.mark.parametrize("bad", [dict(singers=0), dict(singers=len(ARTIST_NAMES) + 1),
                                 dict(albums=0), dict(seconds=1.0), dict(sampling_rate=4000),
                                 dict(channels=0), dict(seed=-1)])
def test_rejects_bad_arguments(tmp_path, bad):
    with pytest.raises(ValueError):
        synthesize_corpus(tmp_path, **{**SMALL, **bad})


def test_command_help_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "--sampling-rate" in capsys.readouterr().out


def test_command_rejects_bad_counts(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path), "--songs", "0"])
    assert exit_info.value.code == 2
    assert "--songs" in capsys.readouterr().err


def test_command_writes_the_corpus(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["--out", str(out), "--singers", "2", "--albums", "2", "--songs", "1",
                 "--seconds", "4", "--sampling-rate", "16000", "--channels", "1"])
    assert code == 0
    songs = sorted(out.glob("*/*/*.flac"))
    assert len(songs) == 4 and all(sf.info(s).channels == 1 for s in songs)
    assert "wrote 4 songs" in capsys.readouterr().out
