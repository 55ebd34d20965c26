"""Open-set math on song embeddings: centroids, cosine scores, thresholds and the metrics
of a gallery that must also say "none of these singers".

Pure numpy (and scikit-learn for AUROC). One vocabulary throughout: *target* scores
should pass a threshold (a known song against its own singer, a known song's best
score), *impostor* scores should not (a song against other singers, an unknown song's
best score). A score passes when it is >= the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import SingeridError

UNKNOWN = -1  # the label of a song whose singer is not in the gallery


def normalize(vectors) -> np.ndarray:
    """Rows scaled to unit length, in float64 (scores near a threshold should not depend
    on float32 rounding)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    if not np.isfinite(vectors).all():
        raise SingeridError("embeddings hold NaN or infinite values")
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    if (norms == 0).any():
        raise SingeridError("an embedding has zero length: it has no direction to compare")
    return vectors / norms


def singer_sums(embeddings, labels: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Per singer, the sum of its songs' unit embeddings: (sorted names, each song's row in
    them, sums [singers, E]). A centroid is a sum's direction."""
    names = sorted(set(labels))
    rows = np.searchsorted(names, labels) if len(labels) else np.zeros(0, dtype=np.int64)
    units = normalize(embeddings)
    if len(units) != len(rows):
        raise SingeridError(f"{len(units)} embeddings for {len(rows)} labels")
    sums = np.zeros((len(names), units.shape[1]))
    np.add.at(sums, rows, units)
    return names, rows, sums


def singer_centroids(embeddings, labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(sorted names, centroids [singers, E]): each the unit-length mean of the singer's
    unit embeddings."""
    names, _, sums = singer_sums(embeddings, labels)
    return names, normalize(sums)


def cosine_scores(queries, centroids) -> np.ndarray:
    """Cosine similarity of each query with each centroid, `[queries, centroids]`."""
    return normalize(queries) @ normalize(centroids).T


# -- scoring: how an embedding becomes a score against centroids ----------------------------
COSINE, CENTERED, S_NORM, AS_NORM = "cosine", "centered", "s-norm", "as-norm"
SCORINGS = (COSINE, CENTERED, S_NORM, AS_NORM)
AS_NORM_TOP_K = 100  # as-norm: each side is normalised by its this many best cohort scores
MIN_COHORT = 2  # cohort scores a mean and spread need, per centroid (its singer's songs excluded)


class CohortTooSmall(SingeridError):
    """Too few cohort songs to normalise a score against."""


@dataclass(frozen=True)
class Scoring:
    """The rule that turns song embeddings into scores against singer centroids, fitted on
    a cohort of songs (a gallery's, when it is calibrated: its threshold belongs to it):

    - COSINE: cosine similarity of unit embeddings;
    - CENTERED: cosine after subtracting the cohort's mean unit embedding (`embed`);
    - S_NORM: CENTERED, then symmetric score normalisation: a score minus the mean of the
      query's scores against the cohort, over their spread, averaged with the same for the
      centroid (against the cohort songs of other singers); AS_NORM: the same over each
      side's `top_k` best cohort scores only.

    Centroids are taken in `embed`'s space (`singer_centroids(scoring.embed(songs), ...)`)."""

    name: str = COSINE
    mean: np.ndarray | None = None  # [E] subtracted from unit embeddings (all but COSINE)
    cohort: np.ndarray | None = None  # [C, E] the cohort songs, embedded (S_NORM, AS_NORM)
    cohort_singers: tuple[str, ...] = field(default=())  # each cohort song's singer
    top_k: int | None = None  # AS_NORM

    def __post_init__(self):  # a loaded gallery is someone else's data
        if self.name not in SCORINGS:
            raise SingeridError(f"scoring {self.name!r}: not one of {', '.join(SCORINGS)}")
        if (self.name != COSINE) != (self.mean is not None) or self.normalised != (self.cohort is not None):
            raise SingeridError(f"scoring {self.name!r} takes {'a mean' if self.name != COSINE else 'no mean'} and "
                                f"{'a cohort' if self.normalised else 'no cohort'}")
        if self.normalised and len(self.cohort_singers) != len(self.cohort):
            raise SingeridError(f"a cohort of {len(self.cohort)} songs names {len(self.cohort_singers)} singers")
        if (self.name == AS_NORM) != (isinstance(self.top_k, int) and self.top_k >= 1):
            raise SingeridError(f"scoring {self.name!r}: top_k {self.top_k!r} (as-norm alone takes one, at least 1)")

    @property
    def normalised(self) -> bool:
        return self.name in (S_NORM, AS_NORM)

    @classmethod
    def fit(cls, name: str, embeddings, singers: Sequence[str], top_k: int = AS_NORM_TOP_K) -> Scoring:
        """`name`'s rule fitted on the songs `embeddings` of `singers` (the cohort)."""
        if name not in SCORINGS:
            raise SingeridError(f"scoring {name!r}: not one of {', '.join(SCORINGS)}")
        if name == COSINE:
            return cls()
        mean = normalize(embeddings).mean(axis=0)
        if name == CENTERED:
            return cls(name, mean)
        cohort = normalize(normalize(embeddings) - mean)
        return cls(name, mean, cohort, tuple(singers), top_k if name == AS_NORM else None)

    def embed(self, embeddings) -> np.ndarray:
        """Unit embeddings in the space scores are cosines in (centered, unless COSINE)."""
        units = normalize(embeddings)
        return units if self.mean is None else normalize(units - self.mean)

    def scores(self, queries, centroids, singers: Sequence[str], queries_are_cohort: bool = False) -> np.ndarray:
        """`[queries, centroids]` scores of raw embeddings `queries` against `centroids`
        (in `embed`'s space, rows named by `singers`). `queries_are_cohort`: the queries are
        the cohort's songs, in its order (calibration on a gallery's own songs), and each is
        not normalised against itself."""
        queries, centroids = self.embed(queries), normalize(centroids)
        cosines = queries @ centroids.T
        if not self.normalised:
            return cosines
        itself = np.eye(len(queries), len(self.cohort), dtype=bool) if queries_are_cohort else None
        query_mean, query_spread = self.cohort_statistics(queries, excluded=itself)
        centroid_mean, centroid_spread = self.cohort_statistics(centroids, singers=singers)
        return self.normalise(cosines, query_mean[:, None], query_spread[:, None], centroid_mean, centroid_spread)

    @staticmethod
    def normalise(cosines, query_mean, query_spread, centroid_mean, centroid_spread) -> np.ndarray:
        """Symmetric score normalisation of cosines, from both sides' cohort statistics."""
        return 0.5 * ((cosines - query_mean) / query_spread + (cosines - centroid_mean) / centroid_spread)

    def cohort_statistics(self, vectors: np.ndarray, singers: Sequence[str] | None = None,
                          excluded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and spread of each unit row of `vectors` against the cohort (its `top_k`
        best scores), leaving out the cohort songs of `singers` (one per row) and
        `excluded` (`[rows, cohort]` True to leave out)."""
        scores = vectors @ self.cohort.T
        left_out = np.zeros(scores.shape, dtype=bool) if excluded is None else excluded.copy()
        if singers is not None:
            left_out |= np.asarray(singers)[:, None] == np.asarray(self.cohort_singers)[None]
        remaining = (~left_out).sum(axis=1)
        if (remaining < MIN_COHORT).any():
            raise CohortTooSmall(f"{self.name} scoring: fewer than {MIN_COHORT} cohort songs of other singers to "
                                 f"normalise against")
        counts = np.minimum(remaining, self.top_k or scores.shape[1])  # each row's own number of kept scores
        best = -np.sort(np.where(left_out, np.inf, -scores), axis=1)  # kept scores first, best first
        kept = np.arange(scores.shape[1])[None] < counts[:, None]
        mean = np.where(kept, best, 0).sum(axis=1) / counts
        spread = np.sqrt(np.where(kept, (best - mean[:, None]) ** 2, 0).sum(axis=1) / counts)
        return mean, np.maximum(spread, 1e-6)


def false_accept_rate(impostors, threshold):
    """Fraction of impostor scores >= threshold (a threshold or an array of them)."""
    impostors = np.sort(_scores(impostors, "impostor"))
    return (len(impostors) - np.searchsorted(impostors, threshold, side="left")) / len(impostors)


def false_reject_rate(targets, threshold):
    """Fraction of target scores < threshold (a threshold or an array of them)."""
    targets = np.sort(_scores(targets, "target"))
    return np.searchsorted(targets, threshold, side="left") / len(targets)


def threshold_for_false_accept_rate(targets, impostors, rate: float) -> float:
    """The lowest threshold that lets at most `rate` of the impostor scores pass.

    With n impostor scores, k = floor(rate * n) may pass, so the (k+1)-th highest must be
    rejected. The threshold lies halfway between that score and the next higher score of
    either kind: every score seen keeps its side, with the widest margin both ways, and
    the result depends only on the scores. When no score is higher, it is the next float
    above. Ties at the boundary are all rejected, so the achieved rate can be lower.
    """
    if not 0 <= rate < 1:
        raise SingeridError(f"false-accept rate {rate}: give a fraction in [0, 1)")
    impostors = np.sort(_scores(impostors, "impostor"))[::-1]
    rejected = impostors[int(np.floor(rate * len(impostors)))]
    scores = np.concatenate([_scores(targets, "target"), impostors])
    higher = scores[scores > rejected]
    halfway = (rejected + higher.min()) / 2 if len(higher) else rejected
    return float(max(halfway, np.nextafter(rejected, np.inf)))


def equal_error_rate(targets, impostors) -> float:
    """The rate at which false accepts and false rejects are equal: where the ROC curve,
    with straight lines between its points, crosses FAR = FRR."""
    targets, impostors = _scores(targets, "target"), _scores(impostors, "impostor")
    thresholds = np.append(np.unique(np.concatenate([targets, impostors])), np.inf)
    far, frr = false_accept_rate(impostors, thresholds), false_reject_rate(targets, thresholds)
    gap = frr - far  # from <= 0 at the lowest threshold (nothing rejected) to 1 at inf (nothing accepted)
    at = int(np.argmax(gap >= 0))
    if gap[at] == 0:
        return float(far[at])
    share = gap[at - 1] / (gap[at - 1] - gap[at])  # of the way from the point before to this one
    return float(far[at - 1] + share * (far[at] - far[at - 1]))


def auroc(targets, impostors) -> float:
    """Area under the ROC curve: the chance a target scores above an impostor (ties count half)."""
    from sklearn.metrics import roc_auc_score

    targets, impostors = _scores(targets, "target"), _scores(impostors, "impostor")
    truth = np.concatenate([np.ones(len(targets)), np.zeros(len(impostors))])
    return float(roc_auc_score(truth, np.concatenate([targets, impostors])))


def detection_and_identification(scores, labels, threshold: float) -> dict:
    """Open-set identification at `threshold`, the field's way (`scores` [songs, singers]
    against the gallery; `labels` each song's singer column, or UNKNOWN):

    - `dir`, the detection-and-identification rate: of the known songs, the fraction whose
      best score passes the threshold and belongs to their own singer;
    - `false_accept_rate`: of the unknown songs, the fraction whose best score passes;

    each with the number of trials behind it (`known_songs`, `unknown_songs`; a rate over
    no trials is None)."""
    scores, labels = _checked_labels(scores, labels)
    known, accepted = labels != UNKNOWN, scores.max(axis=1) >= threshold
    named = accepted & (scores.argmax(axis=1) == labels)
    return {"threshold": float(threshold), "dir": _fraction(named[known]), "known_songs": int(known.sum()),
            "false_accept_rate": _fraction(accepted[~known]), "unknown_songs": int((~known).sum())}


def open_set_metrics(scores, labels, threshold: float, false_accept_rates: Sequence[float] = (0.01, 0.05)) -> dict:
    """What open-set identification is reported with (`scores` and `labels` as
    `detection_and_identification`): closed-set `rank1` among the gallery's singers (known
    songs), `eer` and `auroc` of the best score telling known songs from unknown ones, and
    DIR with the false-accept rate at the gallery's `threshold` and at the thresholds that
    let `false_accept_rates` of the unknown songs pass (`at_false_accept_rate`, keyed by
    rate; their resolution is one unknown song). Counts of trials come with each figure."""
    scores, labels = _checked_labels(scores, labels)
    known = labels != UNKNOWN
    best = scores.max(axis=1)
    results = {"known_songs": int(known.sum()), "unknown_songs": int((~known).sum()),
               "rank1": _fraction(scores[known].argmax(axis=1) == labels[known]),
               "at_threshold": detection_and_identification(scores, labels, threshold)}
    if known.any() and (~known).any():
        results |= {"eer": equal_error_rate(best[known], best[~known]), "auroc": auroc(best[known], best[~known]),
                    "at_false_accept_rate": {
                        f"{rate:g}": detection_and_identification(
                            scores, labels, threshold_for_false_accept_rate(best[known], best[~known], rate))
                        for rate in false_accept_rates}}
    return results


def _checked_labels(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    if scores.ndim != 2 or len(scores) != len(labels) or not ((labels >= UNKNOWN) & (labels < scores.shape[1])).all():
        raise SingeridError(f"labels must be one per song, each a singer's column or {UNKNOWN} (unknown)")
    return scores, labels


def _fraction(hits: np.ndarray) -> float | None:
    return float(hits.mean()) if len(hits) else None


def n_shot_accuracy(trained_centroids, enrol: Mapping[str, np.ndarray], queries: Mapping[str, np.ndarray],
                    shots: Sequence[int] = (1, 3, 5), seed: int = 0) -> dict[int, dict[str, float]]:
    """Enrolment from few songs: for each n, every new singer with at least n songs in
    `enrol` (e.g. the train split's: another album than the queries', under the album split)
    is enrolled from n of them, and its songs in `queries` are identified among the trained
    centroids and all enrolled singers. Returns {n: {"accuracy", "singers", "songs"}} for
    the n some singer qualifies for. Each singer's enrolment songs are shuffled once with
    `seed`, and n-shot enrols the first n, so a larger n adds songs to a smaller n's."""
    trained = normalize(trained_centroids)
    rng = np.random.default_rng(seed)
    pool = {name: np.asarray(enrol[name]) for name in sorted(enrol) if len(queries.get(name, ()))}
    pool = {name: embeddings[rng.permutation(len(embeddings))] for name, embeddings in pool.items()}
    results = {}
    for n in shots:
        names = [name for name, embeddings in pool.items() if len(embeddings) >= n]
        if not names:
            continue
        _, enrolled = singer_centroids(np.concatenate([pool[name][:n] for name in names]), np.repeat(names, n))
        asked = np.concatenate([np.asarray(queries[name]) for name in names])
        labels = len(trained) + np.repeat(np.arange(len(names)), [len(queries[name]) for name in names])
        predicted = cosine_scores(asked, np.concatenate([trained, enrolled])).argmax(axis=1)
        results[n] = {"accuracy": float((predicted == labels).mean()), "singers": len(names), "songs": len(asked)}
    return results


def _scores(scores, kind: str) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not len(scores):
        raise SingeridError(f"no {kind} scores: it takes at least one")
    return scores
