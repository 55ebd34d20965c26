"""A gallery of singers for open-set identification: songs' embeddings per singer, one
centroid per singer, and a threshold below which a song is "none of these singers".

Singers come from training (the model's classes) or are enrolled later from a few of
their songs. Each song is known by a content hash (e.g. `digests.file_digest`), so
enrolling the same file twice adds nothing, and the gallery file holds no paths.

A song's score against a singer follows the gallery's `Scoring` (cosine, centered, s-norm or
as-norm: `metrics.open_set`), fitted on its songs when it is calibrated, since the threshold
belongs to one rule; the calibration keeps the target and impostor scores that set it.

File (`GALLERY_FILE` in a folder, safetensors), version 2:
    tensors   centroids [singers, E] float32 (rows: `singers`, in the scoring's space),
              song_embeddings [songs, E] float32 (rows: `songs`); with a calibration,
              calibration_targets and calibration_impostors float64; scoring_mean [E] and
              scoring_cohort [C, E] float64 as the scoring takes them. Centroids are
              derived from the songs and written for other tools; loading recomputes them.
    metadata  every value is JSON: format, version, singers (sorted names), songs
              ([hash, singer] pairs sorted by singer, then hash), trained (sorted names),
              song_embedding ({singer: the definition its songs were embedded with, a
              model config's `song_embedding`}), scoring ({name, top_k, cohort_singers}),
              calibration (null, or the fields of `Calibration` but its scores).
Version 1 (before scorings and song_embedding) still loads: cosine scoring, its trained
singers embedded as "unit_mean" (training averaged unit segment embeddings) and its
enrolled ones as `VERSION_1_ENROLLED` (prediction normalised the mean of raw chunks).
The header's keys are sorted, so the same gallery is always the same bytes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import SingeridError, one_line
from .metrics.open_set import (CENTERED, COSINE, CohortTooSmall, Scoring, equal_error_rate, normalize,
                               singer_centroids, singer_sums, threshold_for_false_accept_rate)
from .models.singer.configuration_singer import SONG_EMBEDDINGS
from .models.singer.segments import check_number
from .names import hidden_characters

logger = logging.getLogger(__name__)

GALLERY_FILE = "gallery.safetensors"
FORMAT = "singerid-gallery"
VERSION = 2
VERSION_1_ENROLLED = "mean"  # version 1 enrolled songs' embeddings: the normalised mean of raw chunk embeddings
# Measured against the field's usual mean subtraction and score normalisation, cosine kept the
# lowest EER and named enrolled singers best (benchmarks/open_set.py; README, "Scoring").
DEFAULT_SCORING = COSINE
DEFAULT_FALSE_ACCEPT_RATE = 0.05
UNKNOWN_LABEL = "unknown"
VALIDATION_SONGS = "validation songs"
LEFT_OUT = "each left out of its own centroid"  # follows the songs' description in leave-one-out


def check_singer_name(name: str) -> str:
    """`name` when it can name a singer, else `SingeridError`: `UNKNOWN_LABEL`, which
    open-set prediction answers for a singer not in the gallery; a name with nothing
    visible; one with hidden characters (controls, line breaks, bidi overrides: see
    `names.hidden_characters`), which would show as another name or break rows. A name
    that looks like a formula is fine: the CSVs singerid writes neutralise it."""
    if name == UNKNOWN_LABEL:
        raise SingeridError(f"singer name {name!r} is reserved: open-set prediction answers it for a singer not in "
                            f"the gallery; enroll the songs under another name")
    if not name.strip():
        raise SingeridError(f"singer name {name!r} is empty: give the singer's name")
    hidden = hidden_characters(name)
    if hidden:
        codes = ", ".join(f"U+{ord(ch):04X}" for ch in dict.fromkeys(hidden))
        raise SingeridError(f"singer name {name!r} holds control or invisible characters ({codes}): give the name "
                            f"in visible characters")
    return name


@dataclass(frozen=True)
class Calibration:
    """How the gallery's threshold was set."""

    threshold: float  # a score (the gallery's scoring); a song whose best score is below it is unknown
    false_accept_rate: float  # the rate of impostor scores at or above the threshold it was set for
    equal_error_rate: float
    method: str  # which songs were scored, e.g. VALIDATION_SONGS
    skipped: tuple[str, ...] = ()  # singers that gave no target score (one song, left out)
    # The scores that set the threshold, so it can be checked later (none in version 1 galleries):
    # each song's against its own singer, and each song's best against any other singer.
    targets: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0), repr=False, compare=False)
    impostors: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0), repr=False, compare=False)

    def __post_init__(self):  # a loaded gallery is someone else's data
        check_number("threshold", self.threshold, -math.inf, math.inf)  # above the best score: every song unknown
        check_number("false_accept_rate", self.false_accept_rate, 0, 1)
        check_number("equal_error_rate", self.equal_error_rate, 0, 1)

    @property
    def record(self) -> dict:
        """The fields kept in the gallery's metadata (the scores go in tensors)."""
        return {key: value for key, value in dataclasses.asdict(self).items() if key not in ("targets", "impostors")}


@dataclass(frozen=True)
class Identification:
    """One query's answer, best first: the gallery's singers by score, after the unknown
    label (scored at the threshold) when even the best singer scores below it."""

    labels: list[str]
    scores: list[float]
    unknown: bool


class Gallery:
    """Songs (hash, singer, embedding) kept sorted by singer then hash, which singers are
    trained, how each singer's songs were embedded, the scoring and the calibration.
    Embeddings are compared by direction only."""

    def __init__(self):
        self._hashes: list[str] = []
        self._owners: list[str] = []  # each song's singer
        self._embeddings = np.zeros((0, 0), dtype=np.float32)
        self._trained: set[str] = set()
        self._song_embedding: dict[str, str] = {}  # singer → the definition its songs were embedded with
        self.scoring = Scoring()  # cosine until calibrated
        self.calibration: Calibration | None = None

    @classmethod
    def from_training(cls, hashes: Sequence[str], singers: Sequence[str], embeddings,
                      song_embedding: str = SONG_EMBEDDINGS[0]) -> Gallery:
        """A gallery of the training songs; their singers are the trained ones."""
        gallery, singers = cls(), list(singers)
        gallery._add(list(hashes), singers, embeddings)
        gallery._trained = set(singers)
        gallery._song_embedding = dict.fromkeys(gallery.singers, song_embedding)
        return gallery

    def __len__(self) -> int:
        return len(self._hashes)

    @property
    def songs(self) -> list[tuple[str, str]]:
        """(hash, singer) per song, in the rows of `embeddings`."""
        return list(zip(self._hashes, self._owners))

    @property
    def embeddings(self) -> np.ndarray:
        view = self._embeddings.view()
        view.flags.writeable = False
        return view

    @property
    def singers(self) -> list[str]:
        """Sorted names: the columns of `scores` and the rows of `centroids`."""
        return sorted(set(self._owners))

    @property
    def trained(self) -> list[str]:
        return sorted(self._trained)

    @property
    def enrolled(self) -> list[str]:
        return sorted(set(self._owners) - self._trained)

    @property
    def centroids(self) -> np.ndarray:
        """[singers, E]: each singer's unit-length mean of its songs' unit embeddings, in
        the scoring's space (`Scoring.embed`)."""
        return singer_centroids(self.scoring.embed(self._embeddings), self._owners)[1]

    def outdated(self, song_embedding: str) -> tuple[list[str], list[str]]:
        """(trained, enrolled) singers whose songs were embedded otherwise than
        `song_embedding` (the model's): trained ones are recomputed from their training
        songs, enrolled ones must be enrolled again (the gallery holds no audio)."""
        stale = {singer for singer, definition in self._song_embedding.items() if definition != song_embedding}
        return sorted(stale & self._trained), sorted(stale - self._trained)

    def outdated_warning(self, song_embedding: str) -> str | None:
        """What to do about singers embedded otherwise than `song_embedding` (None: nothing)."""
        trained, enrolled = self.outdated(song_embedding)
        if not trained and not enrolled:
            return None
        parts = [f"the model embeds songs as {song_embedding!r}, but the gallery holds songs embedded otherwise:"]
        if trained:
            parts.append(f"trained singers {', '.join(trained)} (rebuild the gallery from the training data: "
                         f"train again, or recompute their songs)")
        if enrolled:
            parts.append(f"enrolled singers {', '.join(enrolled)} (enroll their songs again into a gallery without "
                         f"them)")
        return " ".join(parts) + "; until then their scores are on another scale"

    def enroll(self, singer: str, hashes: Sequence[str], embeddings, update: bool = False,
               song_embedding: str = SONG_EMBEDDINGS[0]) -> int:
        """Add a singer's songs, embedded as `song_embedding` says; returns how many were
        new. A hash already there for this singer is skipped, one there for another singer
        is an error. A trained singer's name is an error unless `update` (then its songs
        are added to it, and it stays trained). Songs embedded otherwise than the singer's
        are an error. The calibration stays as it was: recalibrate after large changes.
        An invalid name (`check_singer_name`) is an error."""
        check_singer_name(singer)
        if singer in self._trained and not update:
            raise SingeridError(f"{singer!r} is a singer the model was trained on: pass update=True to add "
                                f"these songs to it, or enroll them under another name")
        if self._song_embedding.get(singer, song_embedding) != song_embedding:
            raise SingeridError(f"{singer!r}'s songs in the gallery were embedded as "
                                f"{self._song_embedding[singer]!r}, these as {song_embedding!r}: enroll the singer "
                                f"again under a new name, or build a new gallery")
        hashes = list(hashes)
        added = self._add(hashes, [singer] * len(hashes), embeddings)
        self._song_embedding.setdefault(singer, song_embedding)
        return added

    def scores(self, queries) -> np.ndarray:
        """Each query embedding's score against each singer's centroid, `[queries,
        singers]`, by the gallery's scoring (cosine similarity until it is calibrated)."""
        if not self._hashes:
            raise SingeridError("the gallery has no singers: build it from training songs or enroll some")
        queries = np.atleast_2d(queries)
        if queries.ndim != 2 or queries.shape[1] != self._embeddings.shape[1]:
            raise SingeridError(f"query embeddings of shape {queries.shape}, but the gallery's have size "
                                f"{self._embeddings.shape[1]}")
        return self.scoring.scores(queries, self.centroids, self.singers)

    def identify(self, queries, top_k: int | None = None, unknown: str = UNKNOWN_LABEL,
                 threshold: float | None = None) -> list[Identification]:
        """Per query, the `top_k` best singers (all when None) with their scores, after
        `unknown` when the best scores below `threshold` (default: the calibrated one)."""
        if threshold is None:
            if self.calibration is None:
                raise SingeridError("the gallery has no threshold: calibrate it, or pass threshold")
            threshold = self.calibration.threshold
        if unknown in self._owners:
            raise SingeridError(f"{unknown!r} is a singer in this gallery: choose another label for unknown singers")
        if top_k is not None and top_k < 1:
            raise SingeridError(f"top_k {top_k}: give at least 1")
        names, scores = self.singers, self.scores(queries)
        ranks = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]  # ties: by name
        answers = []
        for row, ranked in zip(scores, ranks):
            labels, values = [names[column] for column in ranked], [float(row[column]) for column in ranked]
            rejected = bool(row.max() < threshold)
            if rejected:
                labels, values = [unknown] + labels, [float(threshold)] + values
            answers.append(Identification(labels, values, rejected))
        return answers

    def calibrate(self, embeddings=None, singers: Sequence[str] | None = None,
                  false_accept_rate: float = DEFAULT_FALSE_ACCEPT_RATE, scoring: str = DEFAULT_SCORING) -> Calibration:
        """Fit `scoring` on the gallery's songs and set its threshold on validation songs of
        the gallery's singers, or without them on the gallery's own songs, each left out of
        its singer's centroid. A normalised scoring that too few songs allow falls back to
        "centered" (logged); `scoring` tells which was fitted."""
        try:
            self.scoring = Scoring.fit(scoring, self._embeddings, self._owners)
            self.calibration = self._calibration(embeddings, singers, false_accept_rate)
        except CohortTooSmall as error:
            logger.warning("%s: scoring 'centered' instead", error)
            self.scoring = Scoring.fit(CENTERED, self._embeddings, self._owners)
            self.calibration = self._calibration(embeddings, singers, false_accept_rate)
        return self.calibration

    def _calibration(self, embeddings, singers, false_accept_rate: float) -> Calibration:
        if embeddings is None:
            songs = "training songs" if not self.enrolled else "training and enrolled songs"
            return calibrate_leave_one_out(self._embeddings, self._owners, false_accept_rate, songs, self.scoring)
        return calibrate(self.centroids, self.singers, embeddings, singers, false_accept_rate,
                         scoring=self.scoring)

    def save(self, folder: str | Path) -> Path:
        """Write `GALLERY_FILE` into `folder` (replacing it whole); returns its path."""
        from safetensors.numpy import save

        scoring = self.scoring
        metadata = {"format": FORMAT, "version": VERSION, "singers": self.singers, "songs": self.songs,
                    "trained": self.trained, "song_embedding": self._song_embedding,
                    "scoring": {"name": scoring.name, "top_k": scoring.top_k,
                                "cohort_singers": list(scoring.cohort_singers)},
                    "calibration": self.calibration.record if self.calibration else None}
        tensors = {"centroids": self.centroids.astype(np.float32), "song_embeddings": self._embeddings}
        if self.calibration is not None:
            tensors |= {"calibration_targets": np.asarray(self.calibration.targets, dtype=np.float64),
                        "calibration_impostors": np.asarray(self.calibration.impostors, dtype=np.float64)}
        if scoring.mean is not None:
            tensors["scoring_mean"] = np.asarray(scoring.mean, dtype=np.float64)
        if scoring.cohort is not None:
            tensors["scoring_cohort"] = np.asarray(scoring.cohort, dtype=np.float64)
        blob = save(tensors, metadata={key: json.dumps(value) for key, value in metadata.items()})
        path = Path(folder) / GALLERY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(_sorted_header(blob))
        partial.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Gallery:
        """A gallery from a folder holding `GALLERY_FILE`, or from the file itself."""
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        file = path / GALLERY_FILE if path.is_dir() else path
        if not file.is_file():
            raise SingeridError(f"{file}: no such gallery file; save a gallery there first")
        try:
            with safe_open(file, framework="np") as reader:
                metadata = reader.metadata() or {}
                tensors = {name: reader.get_tensor(name) for name in reader.keys()}
        except (SafetensorError, OSError) as error:
            raise SingeridError(f"{file}: not a readable safetensors file ({one_line(error)})") from None
        if metadata.get("format") != json.dumps(FORMAT):
            raise SingeridError(f"{file}: not a singerid gallery (its metadata has no format {FORMAT!r})")
        version = metadata.get("version")
        if version not in (json.dumps(1), json.dumps(VERSION)):
            raise SingeridError(f"{file}: gallery format version {version}, but this singerid reads versions 1 to "
                                f"{VERSION}; rebuild the gallery with this version")
        try:
            values = {key: json.loads(metadata[key]) for key in ("singers", "songs", "trained", "calibration")}
            gallery = cls()
            hashes, owners = zip(*values["songs"]) if values["songs"] else ((), ())
            gallery._add(hashes, owners, tensors["song_embeddings"])
            gallery._trained = set(values["trained"])
            if version == json.dumps(1):  # see the module's docstring
                gallery._song_embedding = {singer: SONG_EMBEDDINGS[0] if singer in gallery._trained
                                           else VERSION_1_ENROLLED for singer in gallery.singers}
            else:
                gallery._song_embedding = json.loads(metadata["song_embedding"])
                scoring = json.loads(metadata["scoring"])
                gallery.scoring = Scoring(scoring["name"], tensors.get("scoring_mean"), tensors.get("scoring_cohort"),
                                          tuple(scoring["cohort_singers"]), scoring["top_k"])
            if values["calibration"] is not None:
                calibration = values["calibration"]
                gallery.calibration = Calibration(**{**calibration, "skipped": tuple(calibration["skipped"])},
                                                  targets=tensors.get("calibration_targets", np.zeros(0)),
                                                  impostors=tensors.get("calibration_impostors", np.zeros(0)))
            width = gallery._embeddings.shape[1]
            if (values["singers"] != gallery.singers or not gallery._trained <= set(owners)
                    or sorted(gallery._song_embedding) != gallery.singers
                    or any(part is not None and part.shape[-1] != width
                           for part in (gallery.scoring.mean, gallery.scoring.cohort))
                    or tensors["centroids"].shape != (len(gallery.singers), gallery._embeddings.shape[1])):
                raise ValueError("its singers, songs and centroids do not agree")
        except (KeyError, TypeError, ValueError, AttributeError, SingeridError) as error:
            raise SingeridError(f"{file}: a damaged gallery ({type(error).__name__}: {one_line(error)})") from None
        return gallery

    @property
    def embedding_size(self) -> int:
        """The width of the gallery's embeddings (0 while it is empty)."""
        return self._embeddings.shape[1] if len(self._embeddings) else 0

    def _add(self, hashes: Sequence[str], singers: Sequence[str], embeddings) -> int:
        """Add the songs not there yet (checking everything before changing anything); returns their number."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or len(embeddings) != len(hashes) or len(singers) != len(hashes):
            raise SingeridError(f"give one hash, one singer and one embedding per song: got {len(hashes)} hashes, "
                                f"{len(singers)} singers and embeddings of shape {embeddings.shape}")
        if self._hashes and embeddings.shape[1] != self._embeddings.shape[1]:
            raise SingeridError(f"embeddings of size {embeddings.shape[1]}, but the gallery's are "
                                f"{self._embeddings.shape[1]}: they come from another model")
        normalize(embeddings)  # only checks: finite and not zero; they are kept as given
        owner = dict(zip(self._hashes, self._owners))
        new = []
        for row, (digest, singer) in enumerate(zip(hashes, singers)):
            if not (isinstance(digest, str) and digest and isinstance(singer, str) and singer):
                raise SingeridError(f"song {row}: hash and singer must be non-empty strings, got {digest!r}, {singer!r}")
            if digest not in owner:
                owner[digest] = singer
                new.append(row)
            elif owner[digest] != singer:
                raise SingeridError(f"song {digest} is {owner[digest]!r}'s; it cannot also be {singer!r}'s")
        if new:
            hashes = self._hashes + [hashes[row] for row in new]
            owners = self._owners + [singers[row] for row in new]
            rows = np.concatenate([self._embeddings, embeddings[new]]) if self._hashes else embeddings[new]
            order = sorted(range(len(hashes)), key=lambda song: (owners[song], hashes[song]))
            self._hashes, self._owners = [hashes[song] for song in order], [owners[song] for song in order]
            self._embeddings = np.ascontiguousarray(rows[order])
        return len(new)


def calibrate(centroids, singers: Sequence[str], embeddings, labels: Sequence[str],
              false_accept_rate: float = DEFAULT_FALSE_ACCEPT_RATE, songs: str = VALIDATION_SONGS,
              scoring: Scoring = Scoring()) -> Calibration:
    """The threshold and EER from songs labelled with the singers of `centroids` (rows named by `singers`)."""
    return _calibration(*verification_scores(centroids, singers, embeddings, labels, scoring), false_accept_rate,
                        songs)


def calibrate_leave_one_out(embeddings, labels: Sequence[str], false_accept_rate: float = DEFAULT_FALSE_ACCEPT_RATE,
                            songs: str = "training songs", scoring: Scoring = Scoring()) -> Calibration:
    """The threshold and EER from the songs the centroids are made of, each scored against
    its own singer's centroid recomputed without it (for when no validation songs exist).
    A singer with one song gives no target score and is listed in `skipped`."""
    targets, impostors, skipped = leave_one_out_scores(embeddings, labels, scoring)
    return _calibration(targets, impostors, false_accept_rate, f"{songs}, {LEFT_OUT}", skipped)


def verification_scores(centroids, singers: Sequence[str], embeddings, labels: Sequence[str],
                        scoring: Scoring = Scoring()) -> tuple[np.ndarray, np.ndarray]:
    """(targets, impostors) per song: its score against its own singer's centroid, and its
    best score against any other singer's (what an unknown singer would score)."""
    column = {name: index for index, name in enumerate(singers)}
    missing = sorted(set(labels) - column.keys())
    if missing:
        raise SingeridError(f"songs of singers not in the gallery: {', '.join(map(repr, missing[:5]))}"
                            f"{' …' if len(missing) > 5 else ''}; calibrate on songs of its singers")
    if len(singers) < 2:
        raise SingeridError("calibration needs at least two singers: impostor scores come from the others")
    scores = scoring.scores(embeddings, centroids, singers)
    return _targets_and_impostors(scores, np.array([column[label] for label in labels], dtype=np.int64))


def leave_one_out_scores(embeddings, labels: Sequence[str], scoring: Scoring = Scoring()
                         ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(targets, impostors, skipped) as `verification_scores`, but each song's target is
    against its own singer's centroid without it, and a normalised scoring does not score
    a song against itself in the cohort; singers with a single song are skipped for
    targets (their songs still give impostor scores, as unknown singers would)."""
    units = scoring.embed(embeddings)
    names, rows, sums = singer_sums(units, labels)
    if len(names) < 2:
        raise SingeridError("calibration needs at least two singers: impostor scores come from the others")
    _, impostors = _targets_and_impostors(scoring.scores(embeddings, normalize(sums), names, queries_are_cohort=True),
                                          rows)
    alone = np.bincount(rows, minlength=len(names))[rows] == 1
    if alone.all():
        raise SingeridError("every singer has a single song: leave-one-out gives no target score")
    rest = normalize(sums[rows[~alone]] - units[~alone])  # the singer's other songs
    targets = (units[~alone] * rest).sum(axis=1)
    if scoring.normalised:
        itself = np.eye(len(units), len(scoring.cohort), dtype=bool)[~alone]
        query = scoring.cohort_statistics(units[~alone], excluded=itself)
        centroid = scoring.cohort_statistics(rest, singers=np.asarray(labels)[~alone])
        targets = scoring.normalise(targets, *query, *centroid)
    return targets, impostors, tuple(names[index] for index in np.unique(rows[alone]))


def _targets_and_impostors(scores: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    songs = np.arange(len(own))
    targets = scores[songs, own]
    others = scores.copy()
    others[songs, own] = -np.inf
    return targets, others.max(axis=1)


def _calibration(targets, impostors, false_accept_rate: float, method: str, skipped: Sequence[str] = ()
                 ) -> Calibration:
    return Calibration(threshold_for_false_accept_rate(targets, impostors, false_accept_rate), false_accept_rate,
                       equal_error_rate(targets, impostors), method, tuple(skipped),
                       np.asarray(targets, dtype=np.float64), np.asarray(impostors, dtype=np.float64))


def _sorted_header(blob: bytes) -> bytes:
    """safetensors writes its metadata in hash order, which changes between runs; with the
    header's keys sorted the same gallery is always the same bytes."""
    size = int.from_bytes(blob[:8], "little")
    header = json.dumps(json.loads(blob[8:8 + size]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # safetensors pads so the data starts aligned
    return len(header).to_bytes(8, "little") + header + blob[8 + size:]
