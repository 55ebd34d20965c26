"""Predict the singers of song files, with the preprocessing the model was trained with.

    song file ─▶ decode ─▶ separate ─▶ remove silence ─▶ SingerClassifier (chunks, mean probabilities)

Every song that decodes to at least one sample gets an answer: when silence removal
leaves nothing, the loudest window is classified, as preprocessing keeps it for training.
Whatever fails for one song is that song's error, reported and never fatal to the rest.

Timelines (`timeline=True`): each chunk's class probabilities, from the same forward that
gives the song's answer, placed back on the original song's seconds through silence
removal. Their resolution is the chunk hop (`chunk_hop_seconds`, 5 s by default).
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
import logging
import os
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from .audio import is_audio_file
from .errors import SingeridError, SongError, song_error, unavailable
from .preprocessing.folders import find_files
from .gallery import GALLERY_FILE, UNKNOWN_LABEL, Gallery
from .names import file_names, text_cell, write_errors_file
from .preprocessing import PreprocessConfig, SongPreprocessor
from .preprocessing.separation import check_recorded_separator
from .preprocessing.shares import all_shares, launched_processes, this_share
from .preprocessing.silence import original_spans, removed_spans
from .preprocessing.stages import PreparedSong
from .preprocessing.workers import StageWorkers, default_workers

logger = logging.getLogger(__name__)

TIMELINE_SINGERS = 3  # the singers a timeline's CSV and plot show by default


@dataclass
class Timeline:
    """A song's class probabilities chunk by chunk, on the original song's seconds.

    Chunk `i` is one `chunk_s`-long chunk of the cleaned audio (silence removed) the model
    classified; chunks start `hop_s` apart in the cleaned audio, so `hop_s` (5 s by
    default) is the timeline's resolution. The mean of `probabilities` over chunks is the
    song's closed-set answer (open set too keeps these closed-set probabilities).
    """

    labels: list[str]  # class names, in the model's order (the columns of `probabilities`)
    probabilities: np.ndarray  # [chunks, classes] float32: each chunk's class probabilities
    spans: list[list[tuple[float, float]]]  # per chunk: the `(start_s, end_s)` of the original song it holds
    removed: list[tuple[float, float]]  # `(start_s, end_s)` of the original song cut as silence (never classified)
    duration_s: float  # the original (separated) song's length
    hop_s: float  # distance between chunk starts in the cleaned audio: the resolution
    chunk_s: float  # a chunk's length in the cleaned audio

    def song_probabilities(self) -> np.ndarray:
        """The mean over chunks: the song's closed-set probabilities `[classes]`."""
        return self.probabilities.mean(axis=0)

    def top(self, k: int = TIMELINE_SINGERS) -> list[int]:
        """The classes of the song's `k` most probable singers, best first."""
        return [int(i) for i in np.argsort(-self.song_probabilities(), kind="stable")[:k]]


@dataclass
class SongPrediction:
    id: str  # the file stem, as graders expect (see song_ids)
    path: str
    labels: list[str] = field(default_factory=list)  # best first
    scores: list[float] = field(default_factory=list)
    nothing_audible: bool = False  # silence removal left nothing: the loudest window was classified
    notes: list[str] = field(default_factory=list)  # repairs on the way (e.g. non-finite samples zeroed)
    error: str | None = None  # set when the song could not be predicted
    embedding: np.ndarray | None = None  # the unit song embedding, when asked for (open set, enrollment)
    timeline: Timeline | None = None  # each chunk's class probabilities over the song, when asked for


def find_audio_files(inputs: list[str | Path]) -> list[Path]:
    """Audio files among `inputs` (files, or folders searched recursively, links followed,
    each folder once: see `singerid.preprocessing.folders`), sorted per folder. An input
    that does not exist is an error: it is a user's mistake, not a bad song."""
    files = []
    for item in map(Path, inputs):
        if item.is_dir():
            files += [path for path in find_files([item]) if is_audio_file(path)]
        elif item.exists():
            files.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder; give song files or folders that exist")
    return files


def song_ids(files: list[Path]) -> list[str]:
    """File stems, as graders expect; where stems repeat, the path below the files' common
    folder (without extension) tells those songs apart."""
    stems = [path.stem for path in files]
    counts = Counter(stems)
    if len(counts) == len(stems):
        return stems
    # Strings, not Paths, and each folder resolved once: linear, and fast for 20,000 files.
    folders: dict[str, str] = {}

    def resolved(path: str) -> str:
        if os.path.islink(path):
            return os.path.realpath(path)
        folder, name = os.path.split(path)
        if folder not in folders:
            folders[folder] = os.path.realpath(folder or os.curdir)
        return os.path.join(folders[folder], name)

    def below_root(path: str) -> str:
        relative = os.path.relpath(path, root).replace(os.sep, "/")
        name = os.path.basename(path)
        dot = name.rfind(".")  # as PurePath.suffix: not a leading dot, not a trailing one
        return relative[: len(relative) - len(name) + dot] if 0 < dot < len(name) - 1 else relative

    paths = [resolved(os.fspath(path)) for path in files]
    root = os.path.commonpath({os.path.dirname(path) for path in paths})
    return [stem if counts[stem] == 1 else below_root(path) for stem, path in zip(stems, paths)]


def load_model(model, dtype: str | torch.dtype | None = None):
    """A SingerClassifier from an instance, a folder or a Hub id (`dtype`: e.g. "bfloat16")."""
    if not isinstance(model, (str, Path)):
        return model
    from transformers import AutoModelForAudioClassification

    try:
        return AutoModelForAudioClassification.from_pretrained(str(model), **({"dtype": dtype} if dtype else {}))
    except (OSError, ValueError) as error:  # missing folder, unknown or unreachable Hub id
        raise unavailable("model", str(model), error) from None


def model_gallery(model: str | Path) -> Gallery | None:
    """The gallery of singers saved beside a model (a folder or a Hub id, same revision), or None."""
    if Path(str(model)).is_dir():
        path = Path(str(model), GALLERY_FILE)
        return Gallery.load(path) if path.is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        return Gallery.load(hf_hub_download(str(model), GALLERY_FILE))
    except LocalEntryNotFoundError as error:  # offline, and not in the cache
        raise unavailable("gallery of model", str(model), error) from None
    except EntryNotFoundError:  # the repo has none
        return None


def prediction_config(model, separator: str | None = None, remove_silence: bool | None = None,
                      demucs_repo: str | Path | None = None) -> PreprocessConfig:
    """The model's training preprocessing at its sampling rate (see
    `PreprocessConfig.from_recorded`: an unrecorded stage is off); `separator` and
    `remove_silence` override it (None: as recorded). A separator the model's config names
    is data, not a pointer to code: it must be demucs's own (or in `demucs_repo`), else
    `UntrustedSeparator`; one the user gives in `separator` is the user's choice."""
    source = f"{Path(model.config.name_or_path or 'the model', 'config.json')} (preprocessing)"
    recorded = PreprocessConfig.from_recorded(model.config.preprocessing or {}, source=source,
                                              segment_seconds=model.config.chunk_seconds)
    if separator is None:
        check_recorded_separator(recorded.separator, source, demucs_repo)
    overrides = {"sampling_rate": model.config.sampling_rate, "separator": separator, "remove_silence": remove_silence}
    return replace(recorded, **{key: value for key, value in overrides.items() if value is not None})


def predict_songs(paths: list[str | Path], model, top_k: int = 3, ids: list[str] | None = None,
                  separator: str | None = None, demucs_repo: str | None = None, remove_silence: bool | None = None,
                  device: str | None = None, dtype: str | torch.dtype | None = None, batch_size: int = 4,
                  cache_dir: str | Path | None = None, progress: bool = True,
                  workers: int | None = None, open_set: bool = False, gallery: Gallery | None = None,
                  unknown_label: str = UNKNOWN_LABEL, embeddings: bool = False,
                  timeline: bool = False, max_duration_minutes: float | None = None,
                  on_timeline: Callable[[SongPrediction], None] | None = None) -> list[SongPrediction]:
    """Top-k singers of each song, in input order.

    Closed set (default): the model's classes by probability. `open_set`: every singer of
    the gallery (`gallery`, default the one saved beside the model), trained and enrolled,
    by the gallery's score of song embeddings (`Gallery.scores`); a song whose best score
    falls below the gallery's threshold is answered `unknown_label` first. `embeddings` keeps each song's
    embedding on its prediction. `timeline` keeps each song's `Timeline`: every chunk's
    class probabilities (closed set, even with `open_set`) from the same forward, at the
    resolution of the model's chunk hop (5 s by default), on the original song's seconds;
    `on_timeline(prediction)` is called as soon as a song's timeline is made (predict writes
    it then, and lets it go).

    `separator` and `remove_silence` override the preprocessing stored in the model's
    config; `demucs_repo` is a local folder with the separator's weights. Songs are
    classified `batch_size` at a time (padded, with attention masks) on `device` (CUDA
    when available), with the model in `dtype` when given (e.g. "bfloat16"), while
    `workers` processes (default: one per core, less one) decode and clean the next songs.
    A song longer than `max_duration_minutes` (None: no limit) is that song's error.

    Under `accelerate launch`, each process predicts its share of the songs on its own
    device (`preprocessing.shares`), and every process returns all of them, in input order.
    """
    if open_set:
        gallery = _open_set_gallery(model, gallery, unknown_label)
    model = load_model(model, dtype).eval()
    if open_set and gallery.embedding_size != model.config.embedding_size:
        raise SingeridError(f"{GALLERY_FILE}: its embeddings have {gallery.embedding_size} values, the model's "
                            f"{model.config.embedding_size}: the gallery is another model's; enroll its singers anew")
    outdated = gallery.outdated_warning(model.config.song_embedding) if open_set else None
    if outdated:
        logger.warning("%s: %s", GALLERY_FILE, outdated)
    state = launched_processes()  # under accelerate launch, each process predicts its share on its device
    if device is None:
        device = str(state.device) if state.num_processes > 1 else "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    config = prediction_config(model, separator=separator, remove_silence=remove_silence, demucs_repo=demucs_repo)
    preprocessor = SongPreprocessor(config, cache_dir=cache_dir, device=device, demucs_repo=demucs_repo,
                                    max_duration_minutes=max_duration_minutes)
    names = model.config.class_names

    ids = ids or song_ids([Path(path) for path in paths])
    predictions = [SongPrediction(id=song_id, path=str(path)) for song_id, path in zip(ids, paths)]
    mine = this_share(predictions, state, "predicting")
    ready: list[tuple[SongPrediction, PreparedSong]] = []
    classify = functools.partial(_classify_and_discard, model, names=names, top_k=top_k, device=device,
                                 embeddings=open_set or embeddings, timeline=timeline, on_timeline=on_timeline)
    workers = min(default_workers() if workers is None else workers, max(1, len(mine)))
    with StageWorkers(preprocessor, workers) as pool:
        # Separation stays here (on the device); the workers clean what it has separated.
        songs = pool.prepared((prediction.path for prediction in mine),
                              before=_separation(preprocessor) if preprocessor.separator else None)
        bar = tqdm(mine, desc="predicting", unit="song", disable=not progress or not state.is_local_main_process)
        for prediction, song in zip(bar, songs):
            if isinstance(song, SongError):
                _fail(prediction, song)
            else:
                prediction.nothing_audible, prediction.notes = song.nothing_audible, song.notes
                ready.append((prediction, song))
            if len(ready) == batch_size:
                classify(ready)
                ready = []
        if ready:
            classify(ready)
    if open_set:
        _identify(gallery, [p for p in mine if p.error is None], top_k, unknown_label)
    return all_shares(state, mine, len(predictions))


def _open_set_gallery(model, gallery: Gallery | None, unknown_label: str) -> Gallery:
    """The gallery open-set prediction ranks singers in, checked before any song is read."""
    if gallery is None and isinstance(model, (str, Path)):
        gallery = model_gallery(model)
    if gallery is None:
        raise SingeridError(f"{model if isinstance(model, (str, Path)) else 'the model'}: no gallery of singers "
                            f"({GALLERY_FILE}) for --open-set: train it with this singerid version, or enroll "
                            f"singers (singerid enroll)")
    if gallery.calibration is None:
        raise SingeridError("the gallery has no rejection threshold yet: enroll songs of at least two singers "
                            "(one with two songs or more) so it can be calibrated")
    if unknown_label in gallery.singers:
        raise SingeridError(f"{unknown_label!r} is a singer in the gallery: choose another --unknown-label")
    return gallery


def _identify(gallery: Gallery, predictions: list[SongPrediction], top_k: int, unknown_label: str) -> None:
    if not predictions:
        return
    answers = gallery.identify(np.stack([p.embedding for p in predictions]), top_k=top_k, unknown=unknown_label)
    for prediction, answer in zip(predictions, answers):
        prediction.labels, prediction.scores = answer.labels, answer.scores


def _separation(preprocessor: SongPreprocessor):
    """Separates one song (unless cached); returns its error, if any."""
    def separate(path):
        try:
            return preprocessor.separate([path]).get(str(path))
        except Exception as error:  # one song's failure, whatever it is, is that song's alone
            return song_error(path, error, "separate")
    return separate


def _fail(prediction: SongPrediction, error: SongError) -> None:
    prediction.error = error.problem
    tqdm.write(f"error: {error}", file=sys.stderr)


def _classify_and_discard(model, batch, on_timeline=None, **options) -> None:
    """`_classify_isolated`, then the songs' scratch tracks are deleted, whatever happened,
    and each new timeline goes to `on_timeline`."""
    try:
        _classify_isolated(model, batch, **options)
    finally:
        for _, song in batch:
            song.discard()
    for prediction, _ in batch:
        if on_timeline is not None and prediction.timeline is not None:
            on_timeline(prediction)


def _classify_isolated(model, batch, **options) -> None:
    """Classify a batch; if it fails, each song alone, so a failure stays with its song."""
    try:
        _classify(model, batch, **options)
    except Exception as error:
        if len(batch) == 1:
            _fail(batch[0][0], song_error(batch[0][0].path, error, "classification"))
            return
        for item in batch:
            _classify_isolated(model, [item], **options)


def _classify(model, batch: list[tuple[SongPrediction, PreparedSong]], names: list[str], top_k: int, device,
              embeddings: bool, timeline: bool = False) -> None:
    """The songs' answers from their chunks, read from disk `chunk_batch_size` at a time in
    the batch's order (a batch's songs share the model's forwards), so memory holds a few
    chunks whatever the songs' lengths; pooled as the model's `forward` pools a song's."""
    outputs = [([], [], []) for _ in batch]  # per song: chunk log-probabilities, embeddings, samples
    pieces = ((row, song.read_cleaned(start, end), start) for row, (_, song) in enumerate(batch)
              for start, end in model.chunk_plan(song.cleaned_length))
    with torch.inference_mode():
        while group := list(itertools.islice(pieces, model.config.chunk_batch_size)):
            chunks = torch.zeros(len(group), model.config.chunk_samples)  # zero past each chunk's samples
            for chunk, (_, piece, _) in zip(chunks, group):
                chunk[: len(piece)] = torch.from_numpy(piece)
            log_probs, vectors = model.classify_chunks(chunks.to(device), [len(piece) for _, piece, _ in group])
            for (row, piece, start), chunk_log_probs, vector in zip(group, log_probs, vectors):
                outputs[row][0].append(chunk_log_probs)
                outputs[row][1].append(vector)
                outputs[row][2].append((start, start + len(piece)))
    for (prediction, song), (log_probs, vectors, samples) in zip(batch, outputs):
        log_probs, vectors = torch.stack(log_probs), torch.stack(vectors)
        song_log_probs, song_vector = model.pool_chunks(log_probs, vectors)
        scores, indices = song_log_probs.exp().cpu().topk(min(top_k, len(names)))
        prediction.labels, prediction.scores = [names[index] for index in indices.tolist()], scores.tolist()
        if embeddings:
            prediction.embedding = torch.nn.functional.normalize(song_vector, dim=-1).cpu().numpy()
        if timeline:
            prediction.timeline = song_timeline(song, log_probs.exp().cpu().numpy(), samples, names, model.config)


def song_timeline(song: PreparedSong, probabilities: np.ndarray, samples: list[tuple[int, int]], labels: list[str],
                  config) -> Timeline:
    """A prepared song's `Timeline` from its chunks' probabilities `[chunks, classes]` and the
    samples of the song's cleaned audio each chunk holds (from the model's `chunk_log_probs`, `chunk_samples`);
    `config`: the model's (sampling rate, chunk length and hop)."""
    rate = config.sampling_rate
    return Timeline(labels=list(labels), probabilities=np.asarray(probabilities, dtype=np.float32),
                    spans=[original_spans(song.kept_spans, rate, start, end) for start, end in samples],
                    removed=removed_spans(song.kept_spans, song.seconds_in), duration_s=song.seconds_in,
                    hop_s=config.chunk_hop_seconds, chunk_s=config.chunk_seconds)


# -- timelines ---------------------------------------------------------------------------
def format_spans(spans: list[tuple[float, float]]) -> str:
    """`12.50-15.00;17.20-19.70`: seconds of the original song, to the hundredth."""
    return ";".join(f"{start:.2f}-{end:.2f}" for start, end in spans)


def write_timeline(directory: str | Path, prediction: SongPrediction, singers: int = TIMELINE_SINGERS,
                   name: str | None = None, raw_cells: bool = False) -> tuple[Path, Path]:
    """`DIR/<name>.csv` and `DIR/<name>.png` of a prediction's timeline; `name` (default:
    from the song's ID) is one of `names.file_names` of all the songs written there, so
    none leaves `DIR` or overwrites another's.

    The CSV has a header and one row per chunk: `chunk` (its index), `start_s` and `end_s`
    (where its first span starts and its last ends), `spans` (the original song's seconds it
    holds, `start-end` joined by `;`: several where silence was cut inside it), then one
    column per singer, the song's `singers` most probable (closed set) best first, holding
    that singer's probability in the chunk (singer names neutralised, see `names.text_cell`,
    unless `raw_cells`). The PNG plots those columns over the song's time
    (`reports.plot_timeline`). Resolution: the chunk hop (5 s by default)."""
    timeline = prediction.timeline
    if timeline is None:
        raise ValueError(f"{prediction.path}: no timeline (predict with timeline=True)")
    base = Path(directory) / (file_names([prediction.id])[0] if name is None else name)
    if not base.resolve().is_relative_to(Path(directory).resolve()):  # e.g. through a link in DIR
        raise ValueError(f"{base}: outside the timeline folder {directory}")
    base.parent.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = base.with_name(base.name + ".csv"), base.with_name(base.name + ".png")
    top = timeline.top(singers)
    with open(csv_path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        names = [text_cell(timeline.labels[i], raw_cells) for i in top]
        writer.writerow(["chunk", "start_s", "end_s", "spans", *names])
        for index, (spans, row) in enumerate(zip(timeline.spans, timeline.probabilities)):
            start, end = (f"{spans[0][0]:.2f}", f"{spans[-1][1]:.2f}") if spans else ("", "")
            writer.writerow([index, start, end, format_spans(spans), *(f"{row[i]:.6f}" for i in top)])
    from .reports import plot_timeline

    plot_timeline(timeline, png_path, singers=singers, title=prediction.id)
    return csv_path, png_path


# -- answers files -----------------------------------------------------------------------
def check_answers_path(output: str | Path) -> str:
    """The answers file's format, ".csv" or ".json", from its name (ValueError otherwise)."""
    suffix = Path(output).suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ValueError(f"{output}: the output must end in .csv or .json")
    return suffix


def write_predictions(output: str | Path, predictions: list[SongPrediction], scores: bool = False,
                      raw_cells: bool = False) -> Path | None:
    """The answers of predicted songs to `output` (.csv: `ID,No.1,No.2,No.3` rows without a
    header, the 2023 homework's format; .json: `{"ID": ["No.1", ...]}`, the 2025 format;
    `scores` adds each artist's probability; CSV cells of IDs and names are neutralised, see
    `names.text_cell`, unless `raw_cells`), and the failed songs, with their reasons, to
    `<output>.errors.tsv` (`names.write_errors_file`: removed when none failed), whose path
    is returned when there were any."""
    output = Path(output)
    answers_format = check_answers_path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    done = [p for p in predictions if p.error is None]
    (_write_json if answers_format == ".json" else _write_csv)(output, done, scores, raw_cells)
    return write_errors_file(output.with_name(output.stem + ".errors.tsv"),
                             [(p.path, p.error) for p in predictions if p.error is not None])


def _write_csv(path: Path, predictions: list[SongPrediction], scores: bool, raw_cells: bool) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        for p in predictions:
            labels = [text_cell(label, raw_cells) for label in p.labels]
            numbers = [f"{s:.6f}" for s in p.scores]  # singerid's own numbers: never neutralised
            cells = [cell for pair in zip(labels, numbers) for cell in pair] if scores else labels
            writer.writerow([text_cell(p.id, raw_cells), *cells])


def _write_json(path: Path, predictions: list[SongPrediction], scores: bool, raw_cells: bool) -> None:
    # JSON strings are never formulas: written as they are, whatever raw_cells says
    body = {p.id: [[label, round(score, 6)] for label, score in zip(p.labels, p.scores)] if scores else p.labels
            for p in predictions}
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
