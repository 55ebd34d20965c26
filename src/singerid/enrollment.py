"""Beyond the closed set: song embeddings, the gallery of singers beside a model, and
enrolling new singers without retraining.

    song files ─▶ the model's own preprocessing and forward ─▶ unit song embeddings
    training songs ─▶ one centroid per trained artist; validation songs ─▶ the threshold
    a few songs of a new singer ─▶ enroll ─▶ one more centroid in the same gallery
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .digests import file_digest
from .errors import is_a_path
from .evaluation import per_song_mean, predict_segments
from .gallery import (DEFAULT_FALSE_ACCEPT_RATE, DEFAULT_SCORING, LEFT_OUT, VALIDATION_SONGS, Calibration, Gallery,
                      check_singer_name)
from .outputs import RUN_RECORD, OutputInUse, foreign_files
from .prediction import SongPrediction, find_audio_files, load_model, model_gallery, predict_songs

logger = logging.getLogger(__name__)


# -- embeddings of song files ----------------------------------------------------------------
def embed_songs(paths: list[str | Path], model, **options):
    """A `datasets.Dataset` (id, path, embedding) of the songs that could be prepared, and
    the predictions of those that failed (`error` set). `options` go to `predict_songs`."""
    from datasets import Dataset, Features, Sequence, Value

    predictions = predict_songs(paths, model, embeddings=True, **options)
    done = [p for p in predictions if p.error is None]
    features = Features({"id": Value("string"), "path": Value("string"), "embedding": Sequence(Value("float32"))})
    dataset = Dataset.from_dict({"id": [p.id for p in done], "path": [p.path for p in done],
                                 "embedding": [p.embedding.tolist() for p in done]}, features=features)
    return dataset, [p for p in predictions if p.error is not None]


# -- enrollment ------------------------------------------------------------------------------
@dataclass
class Enrollment:
    folder: Path  # where the gallery (and the model, with --output) now lies
    added: dict[str, int]  # new songs per singer (0: all were enrolled already)
    failed: list[SongPrediction] = field(default_factory=list)
    calibration: Calibration | None = None


def singers_from_folder(root: str | Path) -> dict[str, list[Path]]:
    """`<root>/<singer>/<songs>`: each subfolder's audio files (searched recursively)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder; give a folder of <singer>/<songs> folders")
    singers: dict[str, list[Path]] = {}
    for path in find_audio_files([root]):  # one walk: a link into another singer's folder adds nothing
        parts = path.relative_to(root).parts
        if len(parts) > 1:  # files beside the singers' folders are no one's
            singers.setdefault(parts[0], []).append(path)
    if not singers:
        raise FileNotFoundError(f"{root}: no <singer>/<song> audio files in it")
    for name in singers:  # folder names are singer names: the same rule as --singer
        check_singer_name(name)
    return singers


def enrollment_output(model: str | Path, output: str | Path | None) -> Path | None:
    """Where enrolling into `model` writes: None for in place (no `output`, or `output` is the
    model's own folder), else `output`, which must not hold another model: enrolling never
    merges into one (only into an earlier enrollment's copy)."""
    if output is None or (Path(str(model)).is_dir() and Path(output).resolve() == Path(str(model)).resolve()):
        return None
    output = Path(output)
    if (output / "config.json").is_file() and foreign_files(output, "enroll"):
        raise OutputInUse(f"{output}: holds another model; enroll never merges into one: choose a new folder for "
                          f"the enrolled copy, or enroll into that model in place with --model {output}")
    return output


def enroll_singers(model: str | Path, singers: dict[str, list[str | Path]], output: str | Path | None = None,
                   update: bool = False, false_accept_rate: float = DEFAULT_FALSE_ACCEPT_RATE,
                   **options) -> Enrollment:
    """Add singers to the gallery beside `model` (a folder, changed in place, or with
    `output` copied there first; a Hub id needs `output`; see `enrollment_output`) from a
    few songs each. Songs already enrolled change nothing; a trained artist's name needs
    `update`. A model without a gallery gets one, calibrated on its own songs when it can be."""
    for singer in singers:  # before the model loads or any song is read
        check_singer_name(singer)
    output = enrollment_output(model, output)
    local = Path(str(model)).is_dir()
    if not local and output is None and not is_a_path(str(model)):
        raise ValueError(f"{model}: a model from the Hub needs --output DIR for the enrolled copy")
    loaded = load_model(model, options.pop("dtype", None))  # says what is wrong with a model that is not there
    gallery = model_gallery(model) or Gallery()
    song_embedding = loaded.config.song_embedding
    outdated = gallery.outdated_warning(song_embedding)
    if outdated:
        logger.warning("%s", outdated)
    for singer in singers:  # before any song is read
        if singer in gallery.trained and not update:
            raise ValueError(f"{singer!r} is an artist the model was trained on: pass --update to add songs "
                             f"to it, or enroll them under another name")
    # One pass over every song (the separator loads once), then each singer's share.
    owners = [singer for singer, paths in singers.items() for _ in paths]
    predictions = predict_songs([Path(path) for paths in singers.values() for path in paths], loaded,
                                embeddings=True, **options)
    failed = [p for p in predictions if p.error is not None]
    added = {}
    for singer in singers:
        done = [p for p, owner in zip(predictions, owners) if owner == singer and p.error is None]
        added[singer] = gallery.enroll(singer, [file_digest(p.path) for p in done],
                                       np.stack([p.embedding for p in done]), update=update,
                                       song_embedding=song_embedding) if done else 0
    if gallery.calibration is None:
        gallery.calibration = _calibrated_on_own_songs(gallery, false_accept_rate)
    folder = Path(output) if output else Path(str(model))
    if output:
        if local:
            # not the model's own run record: the copy is enroll's output
            shutil.copytree(str(model), folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(f"{RUN_RECORD}*"))
        else:
            loaded.save_pretrained(folder)
    gallery.save(folder)
    return Enrollment(folder, added, failed, gallery.calibration)


def _calibrated_on_own_songs(gallery: Gallery, false_accept_rate: float) -> Calibration | None:
    try:
        return gallery.calibrate(false_accept_rate=false_accept_rate)
    except Exception as error:  # too few singers or songs to score: open-set prediction says so
        logger.warning("the gallery's threshold cannot be set yet (%s): enroll more songs", error)
        return None


# -- the gallery a training run leaves -------------------------------------------------------
def training_gallery(model, train, validation, collator, batch_size: int, autocast: str,
                     false_accept_rate: float = DEFAULT_FALSE_ACCEPT_RATE, audio=None,
                     scoring: str = DEFAULT_SCORING) -> Gallery:
    """One entry per training song (its segments' mean embedding), so every trained artist
    has a centroid; the threshold is set on the validation songs, or, without them, on the
    training songs, each left out of its own centroid (the gallery says which). `train` and
    `validation` are what `collator` takes (audio, or cached features); `audio`: the
    training split's audio, which names each song by content, when `train` has none."""
    names = model.config.class_names
    hashes, singers, embeddings = split_songs(model, train, collator, batch_size, autocast, names, audio)
    gallery = Gallery.from_training(hashes, singers, embeddings, model.config.song_embedding)
    if validation is not None and validation.num_rows:
        _, singers, embeddings = split_songs(model, validation, collator, batch_size, autocast, names, [])
        gallery.calibrate(embeddings, singers, false_accept_rate, scoring)
    else:
        gallery.calibrate(false_accept_rate=false_accept_rate, scoring=scoring)
    logger.info("gallery: %d trained artists; %s scoring, threshold %.3f for a %.0f %% false-accept rate, set on "
                "%s (equal error rate %.3f)", len(gallery.singers), gallery.scoring.name, gallery.calibration.threshold,
                100 * false_accept_rate, gallery.calibration.method, gallery.calibration.equal_error_rate)
    return gallery


def split_songs(model, split, collator, batch_size: int, autocast: str, names: list[str], audio=None):
    """(content hashes, singers, unit song embeddings) of a dataset split's songs, in song-id
    order: a song's embedding is the mean of its segments', its hash that of their encoded
    audio (`audio`: the split with its audio when `split` holds features; [] skips hashing)."""
    outputs = predict_segments(model, split, collator, batch_size, autocast, embeddings=True)
    order, rows, embeddings = per_song_mean(outputs.embeddings, list(split["song_id"]))
    singers = [""] * len(order)
    for label, row in zip(split["label"], rows):
        singers[row] = names[label]
    return _song_digests(split if audio is None else audio, rows, len(order)), singers, embeddings


def _song_digests(split, rows, songs: int) -> list[str]:
    if not len(split):
        return []
    digests = [hashlib.sha256() for _ in range(songs)]
    segment_rows = iter(rows)
    for batch in split.select_columns(["audio"]).iter(batch_size=256):  # never all the audio in memory
        for audio, row in zip(batch["audio"], segment_rows):
            digests[row].update(audio["bytes"] or audio["path"].encode())
    return [f"segments:{digest.hexdigest()}" for digest in digests]


# -- measured, not assumed: open-set evaluation ----------------------------------------------
def evaluate_open_set(model_name_or_path: str, dataset_name_or_path: str, split: str, output_dir: str | Path,
                      batch_size: int = 24, dtype: str | None = None, autocast: str | None = None,
                      shots: tuple[int, ...] = (1, 3, 5), seed: int = 0) -> dict:
    """Open-set numbers of a model with a gallery on a split whose artists may be a superset
    of the model's, reported the field's way (`metrics.open_set.open_set_metrics`, each
    figure with its trials): closed-set rank-1 among the gallery's singers, EER and AUROC of
    the best score telling known singers' songs from unknown ones, and the
    detection-and-identification rate with the false-accept rate on unknown songs, at the
    stored threshold and at fixed false-accept rates. n-shot enrols each singer the gallery
    was not trained on from its songs in the train split and queries its songs in `split`
    (another album, under the album split); on the train split itself there is none. A
    `warning` says when the split's songs are those that set the threshold. Written to
    metrics.json (the split's `open_set`) and `open_set.png` in `output_dir`; returns them."""
    from .data import AudioCollator, encoded_audio, load_split
    from .evaluation import trained_autocast
    from .metrics.open_set import UNKNOWN, n_shot_accuracy, open_set_metrics
    from .reports import write_open_set_report

    model = load_model(model_name_or_path, dtype).eval()
    gallery = model_gallery(model_name_or_path)
    if gallery is None or gallery.calibration is None:
        raise ValueError(f"{model_name_or_path}: no calibrated gallery of singers; train it with this singerid "
                         f"version, or enroll singers")
    data = load_split(dataset_name_or_path, split)
    names = data.features["label"].names
    trained = model.config.class_names
    if not set(trained) <= set(names):
        raise ValueError(f"the dataset lacks the model's artists {sorted(set(trained) - set(names))}: open-set "
                         f"evaluation needs a dataset holding every artist the model knows, and more")
    collator = AudioCollator.for_model(model.config)
    autocast = autocast or trained_autocast(model_name_or_path)

    def songs_of(dataset):
        _, singers, embeddings = split_songs(model, encoded_audio(dataset), collator, batch_size, autocast, names, [])
        return np.asarray(singers), embeddings

    singers, embeddings = songs_of(data)
    scores = gallery.scores(embeddings)
    known = np.isin(singers, gallery.singers)
    labels = [gallery.singers.index(singer) if singer in gallery.singers else UNKNOWN for singer in singers]
    threshold = gallery.calibration.threshold
    results = {"split": split, "songs_known": int(known.sum()), "songs_unknown": int((~known).sum()),
               "unknown_artists": sorted(set(singers[~known])), "scoring": gallery.scoring.name,
               "threshold": threshold,
               "threshold_set_for_false_accept_rate": gallery.calibration.false_accept_rate,
               **open_set_metrics(scores, labels, threshold)}
    warnings = [warning for warning in (_threshold_set_on(gallery, split),
                                        gallery.outdated_warning(model.config.song_embedding)) if warning]
    for warning in warnings:
        logger.warning(warning)
    if warnings:
        results["warning"] = "; ".join(warnings)
    # n-shot: every artist the model was not trained on, enrolled from scratch beside the trained ones
    # from its train-split songs, and queried on this split's.
    results["left_out_artists"] = sorted(set(singers) - set(gallery.trained))
    results["n_shot"] = {}
    if split != "train" and results["left_out_artists"]:
        train = load_split(dataset_name_or_path, "train")
        left_out = [names.index(singer) for singer in results["left_out_artists"]]
        enrol_singers, enrol_embeddings = songs_of(train.filter(lambda label: label in left_out,
                                                                input_columns="label", keep_in_memory=True))
        trained_rows = [row for row, singer in enumerate(gallery.singers) if singer in gallery.trained]
        embed = gallery.scoring.embed  # centroids lie in the scoring's space; ranks are by cosine there
        results["n_shot"] = {str(n): values for n, values in n_shot_accuracy(
            gallery.centroids[trained_rows],
            {singer: embed(enrol_embeddings[enrol_singers == singer]) for singer in results["left_out_artists"]},
            {singer: embed(embeddings[singers == singer]) for singer in results["left_out_artists"]},
            shots, seed).items()}
    write_open_set_report(output_dir, results, scores[known].max(axis=1), scores[~known].max(axis=1))
    return results


def _threshold_set_on(gallery: Gallery, split: str) -> str | None:
    """A warning when `split`'s songs are the ones that set the gallery's threshold."""
    method = gallery.calibration.method
    if (split == "validation" and method == VALIDATION_SONGS) or (split == "train" and method.endswith(LEFT_OUT)):
        return (f"the {split} split's songs set the gallery's threshold ({method}) and chose the checkpoint: its "
                f"open-set numbers are optimistic; evaluate on the test split")
    return None
