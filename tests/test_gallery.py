"""The singer gallery (enrolment, identification, its file), its calibration and the
open-set metrics, on synthetic embeddings: clusters on the unit sphere, fixed seeds."""

import json

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from singerid.errors import SingeridError
from singerid.gallery import (GALLERY_FILE, LEFT_OUT, VALIDATION_SONGS, Gallery, calibrate, leave_one_out_scores,
                              verification_scores)
from singerid.metrics.open_set import (SCORINGS, UNKNOWN, auroc, detection_and_identification, equal_error_rate,
                                       false_accept_rate, n_shot_accuracy, open_set_metrics,
                                       threshold_for_false_accept_rate)

DIM = 32


def unit(vectors):
    return (vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)).astype(np.float32)


def cluster_songs(rng, centers, count):
    """`count` songs around each center: unit embeddings, singers "s0", "s1", ..., hashes per song."""
    embeddings = unit(np.repeat(centers, count, axis=0) + 0.15 * rng.standard_normal((len(centers) * count, DIM)))
    singers = [f"s{index}" for index in range(len(centers)) for _ in range(count)]
    return [f"h{rng.integers(1 << 62):x}" for _ in singers], singers, embeddings


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def centers(rng):
    return unit(rng.standard_normal((5, DIM)))


@pytest.fixture
def gallery(rng, centers):
    return Gallery.from_training(*cluster_songs(rng, centers, 6))


def test_reenrolling_changes_nothing(rng, gallery, tmp_path):
    hashes, _, embeddings = cluster_songs(rng, unit(rng.standard_normal((1, DIM))), 4)
    assert gallery.enroll("newcomer", hashes[:3], embeddings[:3]) == 3
    first = gallery.save(tmp_path / "a").read_bytes()
    assert gallery.enroll("newcomer", hashes[:3], embeddings[:3]) == 0
    assert gallery.save(tmp_path / "b").read_bytes() == first
    assert gallery.enroll("newcomer", hashes, embeddings) == 1  # only the fourth is new
    assert gallery.enrolled == ["newcomer"] and "newcomer" not in gallery.trained
    assert [singer for _, singer in gallery.songs].count("newcomer") == 4


def test_a_song_under_two_singers_is_an_error(gallery):
    digest, owner = gallery.songs[0]
    before = len(gallery)
    with pytest.raises(SingeridError, match=rf"{digest}.*'{owner}'.*'newcomer'"):
        gallery.enroll("newcomer", ["fresh", digest], gallery.embeddings[:2])
    assert len(gallery) == before and "newcomer" not in gallery.singers  # nothing was added
    with pytest.raises(SingeridError, match="'a'.*'b'"):  # the same within one call
        Gallery.from_training(["x", "x"], ["a", "b"], gallery.embeddings[:2])


def test_a_trained_name_needs_update(rng, gallery, centers):
    hashes, _, embeddings = cluster_songs(rng, centers[:1], 2)
    with pytest.raises(SingeridError, match="'s0'.*update=True"):
        gallery.enroll("s0", hashes, embeddings)
    before = gallery.centroids[0].copy()
    assert gallery.enroll("s0", hashes, embeddings, update=True) == 2
    assert "s0" in gallery.trained and not gallery.enrolled
    assert not np.array_equal(gallery.centroids[0], before)


def test_the_unknown_label_must_not_be_a_singer(gallery):
    with pytest.raises(SingeridError, match="'unknown' is reserved"):
        gallery.enroll("unknown", ["u1"], gallery.embeddings[:1])
    # A trained artist may be called so (a corpus's folder): then identify needs another label.
    gallery = Gallery.from_training(["u1", "s1"], ["unknown", "s"], gallery.embeddings[:2])
    with pytest.raises(SingeridError, match="'unknown'.*another label"):
        gallery.identify(gallery.embeddings[:1], threshold=0.5)
    assert gallery.identify(gallery.embeddings[:1], threshold=2.0, unknown="?")[0].labels[0] == "?"


def test_save_and_load_round_trip(rng, gallery, tmp_path):
    gallery.enroll("newcomer", *cluster_songs(rng, unit(rng.standard_normal((1, DIM))), 3)[::2])
    gallery.calibrate(scoring="as-norm")  # every tensor a scoring keeps
    path = gallery.save(tmp_path)
    assert path == tmp_path / GALLERY_FILE
    loaded = Gallery.load(tmp_path)
    assert loaded.songs == gallery.songs and loaded.trained == gallery.trained and loaded.enrolled == ["newcomer"]
    np.testing.assert_array_equal(loaded.embeddings, gallery.embeddings)
    assert loaded.calibration == gallery.calibration and loaded.scoring.name == gallery.scoring.name == "as-norm"
    np.testing.assert_array_equal(loaded.calibration.targets, gallery.calibration.targets)
    queries = cluster_songs(rng, unit(rng.standard_normal((2, DIM))), 2)[2]
    np.testing.assert_array_equal(loaded.scores(queries), gallery.scores(queries))
    assert loaded.save(tmp_path / "again").read_bytes() == path.read_bytes()
    with safe_open(path, framework="np") as reader:  # what other tools read
        np.testing.assert_allclose(reader.get_tensor("centroids"), gallery.centroids, atol=1e-6)
        assert json.loads(reader.metadata()["singers"]) == gallery.singers
    assert str(tmp_path).encode() not in path.read_bytes()


@pytest.mark.parametrize("kind", ["garbage", "model", "version", "damaged"])
def test_other_files_are_named_in_the_error(gallery, tmp_path, kind):
    file = tmp_path / GALLERY_FILE
    if kind == "garbage":
        file.write_bytes(b"not safetensors at all")
        expected = "not a readable safetensors"
    elif kind == "model":
        save_file({"weight": np.zeros((2, 2), np.float32)}, file)
        expected = "not a singerid gallery"
    else:
        gallery.save(tmp_path)
        with safe_open(file, framework="np") as reader:
            metadata, tensors = reader.metadata(), {name: reader.get_tensor(name) for name in reader.keys()}
        if kind == "version":
            metadata["version"], expected = "99", "version 99"
        else:
            tensors["song_embeddings"], expected = tensors["song_embeddings"][1:], "damaged"
        save_file(tensors, file, metadata=metadata)
    with pytest.raises(SingeridError, match=expected) as error:
        Gallery.load(tmp_path)
    assert str(file) in str(error.value)


def test_calibration_on_separated_clusters(rng, gallery, centers):
    _, labels, embeddings = cluster_songs(rng, centers, 8)
    targets, impostors = verification_scores(gallery.centroids, gallery.singers, embeddings, labels)
    assert impostors.max() < targets.min()  # the clusters are far apart
    calibration = gallery.calibrate(embeddings, labels, scoring="cosine")
    assert calibration.equal_error_rate == 0 and calibration.method == VALIDATION_SONGS
    assert calibration.threshold < targets.min() and false_accept_rate(impostors, calibration.threshold) <= 0.05
    strict = calibrate(gallery.centroids, gallery.singers, embeddings, labels, false_accept_rate=0)
    assert impostors.max() < strict.threshold < targets.min()
    with pytest.raises(SingeridError, match="'stranger'"):
        gallery.calibrate(embeddings[:1], ["stranger"])


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.05, 0.2, 0.5])
def test_the_threshold_keeps_the_false_accept_rate_on_random_scores(rng, rate):
    targets, impostors = rng.normal(0.6, 0.2, 300), rng.normal(0.3, 0.2, 200)
    threshold = threshold_for_false_accept_rate(targets, impostors, rate)
    assert false_accept_rate(impostors, threshold) <= rate
    # the lowest such threshold: down to the highest rejected impostor, one more passes
    assert false_accept_rate(impostors, impostors[impostors < threshold].max()) > rate
    assert threshold == threshold_for_false_accept_rate(targets[::-1], impostors[::-1], rate)  # order-free


def test_calibration_far_on_random_embeddings(rng):
    centroids = unit(rng.standard_normal((10, DIM)))
    embeddings, labels = unit(rng.standard_normal((400, DIM))), [f"s{i % 10}" for i in range(400)]
    singers = [f"s{i}" for i in range(10)]
    _, impostors = verification_scores(centroids, singers, embeddings, labels)
    calibration = calibrate(centroids, singers, embeddings, labels, false_accept_rate=0.1)
    assert false_accept_rate(impostors, calibration.threshold) <= 0.1
    assert 0.3 < calibration.equal_error_rate < 1  # no signal: far from separable


def test_leave_one_out_calibration(rng, centers):
    hashes, singers, embeddings = cluster_songs(rng, centers, 4)
    hashes, singers, embeddings = hashes + ["alone"], singers + ["solo"], np.concatenate([embeddings, unit(
        rng.standard_normal((1, DIM)))])
    gallery = Gallery.from_training(hashes, singers, embeddings)
    calibration = gallery.calibrate()
    assert calibration.skipped == ("solo",) and calibration.method == f"training songs, {LEFT_OUT}"
    assert calibration.equal_error_rate == 0
    targets, impostors, _ = leave_one_out_scores(embeddings, singers)
    assert len(targets) == 20 and len(impostors) == 21
    # by hand: the first song against its singer's other three
    others = embeddings[1:4].astype(np.float64).mean(axis=0)
    assert targets[0] == pytest.approx(embeddings[0] @ others / np.linalg.norm(others), abs=1e-6)
    assert targets[0] < embeddings[0] @ gallery.centroids[0]  # with itself in, it would score higher


def test_identify_rejects_a_far_query_and_names_a_near_one(rng, gallery, centers):
    gallery.calibrate(scoring="cosine")
    near = cluster_songs(rng, centers[2:3], 1)[2]
    # far: orthogonal to every centroid, so it scores 0 with each
    basis = np.linalg.qr(np.concatenate([gallery.centroids.T, rng.standard_normal((DIM, 1))], axis=1))[0]
    far = basis[:, len(gallery.singers)]
    answers = gallery.identify(np.stack([near[0], far]), top_k=2)
    assert answers[0].labels[0] == "s2" and not answers[0].unknown and len(answers[0].labels) == 2
    assert answers[1].unknown and answers[1].labels[0] == "unknown" and len(answers[1].labels) == 3
    assert answers[1].scores[0] == gallery.calibration.threshold > answers[1].scores[1]
    assert answers[0].scores == sorted(answers[0].scores, reverse=True)
    np.testing.assert_allclose(gallery.scores(far)[0], 0, atol=1e-6)


def test_open_set_metrics_on_known_cases(rng):
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1 and equal_error_rate([0.9, 0.8], [0.1, 0.2]) == 0
    assert equal_error_rate([0.1, 0.2], [0.9, 0.8]) == 1  # every answer wrong
    # targets 0.2, 0.6, 0.9 and impostors 0.1, 0.5, 0.7: FAR = FRR = 1/3 at threshold 0.6
    assert equal_error_rate([0.2, 0.6, 0.9], [0.1, 0.5, 0.7]) == pytest.approx(1 / 3)
    same = rng.standard_normal((2, 4000))
    assert auroc(*same) == pytest.approx(0.5, abs=0.03)
    assert equal_error_rate(*same) == pytest.approx(0.5, abs=0.03)


def test_detection_and_identification_rate_counts_known_songs_only():
    scores = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.3], [0.1, 0.7], [0.2, 0.3], [0.7, 0.1], [0.5, 0.4]]
    labels = [0, 0, 0, 1, UNKNOWN, UNKNOWN, UNKNOWN]
    # known: the first and fourth are accepted and named right; the second names the wrong
    # singer, the third is below the threshold. Unknown: only the sixth is accepted.
    assert detection_and_identification(scores, labels, threshold=0.65) == {
        "threshold": 0.65, "dir": 2 / 4, "known_songs": 4, "false_accept_rate": 1 / 3, "unknown_songs": 3}
    # the mix of known and unknown songs does not move DIR (pooling them did)
    more_unknown = scores + [[0.1, 0.2]] * 5
    assert detection_and_identification(more_unknown, labels + [UNKNOWN] * 5, 0.65)["dir"] == 2 / 4
    assert detection_and_identification(scores[:4], labels[:4], 0.65)["false_accept_rate"] is None


def test_open_set_metrics_at_fixed_false_accept_rates():
    # 4 known songs (best scores 0.9 right, 0.8 wrong singer, 0.6 right, 0.4 right) and
    # 10 unknown ones, best scores 0.05 ... 0.95
    known = [[0.9, 0.0], [0.0, 0.8], [0.6, 0.1], [0.0, 0.4]]
    unknown = [[score, 0.0] for score in np.arange(1, 20, 2) / 20]
    labels = [0, 0, 0, 1] + [UNKNOWN] * 10
    results = open_set_metrics(known + unknown, labels, threshold=0.7, false_accept_rates=(0.1, 0.3))
    assert results["known_songs"] == 4 and results["unknown_songs"] == 10
    assert results["rank1"] == 3 / 4  # the second names the wrong singer
    assert results["at_threshold"]["dir"] == 1 / 4 and results["at_threshold"]["false_accept_rate"] == 3 / 10
    # 10 %: one unknown (0.95) may pass, so 0.85 is rejected: the threshold lies between 0.85 and 0.9
    at_10 = results["at_false_accept_rate"]["0.1"]
    assert 0.85 < at_10["threshold"] <= 0.9 and at_10["false_accept_rate"] == 1 / 10 and at_10["dir"] == 1 / 4
    # 30 %: three may pass (0.95, 0.85, 0.75); 0.65 is rejected, and 0.6 with it
    at_30 = results["at_false_accept_rate"]["0.3"]
    assert 0.65 < at_30["threshold"] <= 0.75 and at_30["false_accept_rate"] == 3 / 10 and at_30["dir"] == 1 / 4
    assert results["eer"] == pytest.approx(equal_error_rate([0.9, 0.8, 0.6, 0.4], np.arange(1, 20, 2) / 20))


def test_n_shot_accuracy_enrols_from_one_set_and_queries_another(rng):
    centers = unit(rng.standard_normal((12, DIM)))
    trained = centers[:6]
    enrol = {f"new{index}": cluster_songs(rng, centers[6 + index:7 + index], 5 if index else 3)[2]
             for index in range(6)}
    queries = {f"new{index}": cluster_songs(rng, centers[6 + index:7 + index], 4)[2] for index in range(6)}
    results = n_shot_accuracy(trained, enrol, queries, shots=(1, 3, 5), seed=1)
    # every singer with n enrolment songs takes part, queried on all its songs of the other set
    assert results[1]["singers"] == 6 and results[3]["singers"] == 6 and results[5]["singers"] == 5
    assert results[1]["songs"] == 24 and results[5]["songs"] == 20
    assert all(result["accuracy"] > 0.9 for result in results.values())
    assert n_shot_accuracy(trained, enrol, queries, seed=1) == results
    assert 7 not in n_shot_accuracy(trained, enrol, queries, shots=(7,))
    # a singer's queries are never its enrolment songs: enrolling from one singer's songs and
    # asking about another's names the wrong one
    swapped = {"new0": queries["new1"], "new1": queries["new0"]}
    known = n_shot_accuracy(trained, {name: enrol[name] for name in swapped}, swapped, shots=(3,))
    assert known[3] == {"accuracy": 0.0, "singers": 2, "songs": 8}
    noise = [{f"new{index}": unit(rng.standard_normal((30, DIM))) for index in range(10)} for _ in range(2)]
    chance = n_shot_accuracy(unit(rng.standard_normal((10, DIM))), *noise, shots=(1, 3, 5))
    assert all(result["accuracy"] < 0.15 for result in chance.values())  # chance is 1 in 20

@pytest.mark.parametrize("scoring", SCORINGS)
def test_the_calibration_keeps_the_scores_that_set_its_threshold(rng, gallery, centers, scoring, tmp_path):
    _, labels, embeddings = cluster_songs(rng, centers, 3)
    calibration = gallery.calibrate(embeddings, labels, scoring=scoring)
    assert gallery.scoring.name == scoring
    scores = gallery.scores(embeddings)  # what prediction scores these songs with
    own = np.searchsorted(gallery.singers, labels)
    np.testing.assert_allclose(calibration.targets, scores[np.arange(len(own)), own], atol=1e-12)
    scores[np.arange(len(own)), own] = -np.inf
    np.testing.assert_allclose(calibration.impostors, scores.max(axis=1), atol=1e-12)
    assert calibration.threshold == threshold_for_false_accept_rate(calibration.targets, calibration.impostors, 0.05)
    gallery.save(tmp_path)
    np.testing.assert_array_equal(Gallery.load(tmp_path).calibration.impostors, calibration.impostors)


def _normalised_by_hand(songs, song_singers, queries, centroid_singers, top_k, leave_out_self=False):
    """s-norm (top_k None) or as-norm, written out: center on the songs' mean unit vector,
    cosine against each singer's centroid, then each side's cohort mean and spread."""
    def unit64(x):
        return x / np.linalg.norm(x, axis=-1, keepdims=True)
    mean = unit64(songs.astype(np.float64)).mean(axis=0)
    cohort = unit64(unit64(songs.astype(np.float64)) - mean)
    q = unit64(unit64(queries.astype(np.float64)) - mean)
    owners = np.array(song_singers)
    centroids = unit64(np.stack([cohort[owners == name].sum(axis=0) for name in centroid_singers]))
    out = np.zeros((len(q), len(centroids)))
    for i, query in enumerate(q):
        query_scores = np.delete(cohort @ query, i) if leave_out_self else cohort @ query
        for j, (name, centroid) in enumerate(zip(centroid_singers, centroids)):
            centroid_scores = cohort[owners != name] @ centroid
            qs, cs = np.sort(query_scores)[::-1][:top_k], np.sort(centroid_scores)[::-1][:top_k]  # None: all
            score = query @ centroid
            out[i, j] = 0.5 * ((score - qs.mean()) / qs.std() + (score - cs.mean()) / cs.std())
    return out


@pytest.mark.parametrize("scoring,top_k", [("s-norm", None), ("as-norm", 3)])
def test_score_normalisation_by_hand(rng, gallery, centers, scoring, top_k):
    from singerid.metrics.open_set import Scoring

    keep = [row for row, (_, singer) in enumerate(gallery.songs) if singer != "s1" or row % 6 < 2]  # s1: 2 songs
    songs, owners = gallery.embeddings[keep], [gallery.songs[row][1] for row in keep]
    fitted = Scoring.fit(scoring, songs, owners, top_k=top_k or 100)
    queries = cluster_songs(rng, centers, 1)[2]
    names = sorted(set(owners))
    centroids = np.stack([fitted.embed(songs)[np.array(owners) == name].sum(axis=0) for name in names])
    expected = _normalised_by_hand(songs, owners, queries, names, top_k)
    np.testing.assert_allclose(fitted.scores(queries, centroids, names), expected, atol=1e-9)
    # calibrated on the gallery's own songs, a song is not normalised against itself
    np.testing.assert_allclose(fitted.scores(songs, centroids, names, queries_are_cohort=True),
                               _normalised_by_hand(songs, owners, songs, names, top_k, leave_out_self=True), atol=1e-9)


def test_too_few_songs_for_score_normalisation_fall_back_to_centering(rng, centers):
    hashes, singers, embeddings = cluster_songs(rng, centers[:2], 2)
    gallery = Gallery()
    gallery.enroll("one", hashes[:1], embeddings[:1])  # the other singer's centroid has one cohort song
    gallery.enroll("two", hashes[2:], embeddings[2:])
    calibration = gallery.calibrate(scoring="s-norm")
    assert gallery.scoring.name == "centered" and len(calibration.targets) == 2 and len(calibration.impostors) == 3


def test_a_version_1_gallery_loads_and_flags_its_enrolled_singers(rng, gallery, tmp_path):
    """Version 1 enrolled songs by the normalised mean of raw chunk embeddings, trained ones
    by their unit segment embeddings (today's definition): only the enrolled are flagged."""
    gallery.enroll("newcomer", *cluster_songs(rng, unit(rng.standard_normal((1, DIM))), 3)[::2])
    gallery.calibrate(scoring="cosine")
    file = gallery.save(tmp_path)
    with safe_open(file, framework="np") as reader:
        metadata = reader.metadata()
        tensors = {name: reader.get_tensor(name) for name in ("centroids", "song_embeddings")}
    calibration = json.loads(metadata["calibration"])
    fields = ("threshold", "false_accept_rate", "equal_error_rate", "method", "skipped")  # version 1's
    version_1 = {"format": metadata["format"], "version": "1", "singers": metadata["singers"],
                 "songs": metadata["songs"], "trained": metadata["trained"],
                 "calibration": json.dumps({key: calibration[key] for key in fields})}
    save_file(tensors, file, metadata=version_1)
    loaded = Gallery.load(tmp_path)
    assert loaded.songs == gallery.songs and loaded.scoring.name == "cosine"
    assert loaded.calibration.threshold == gallery.calibration.threshold and len(loaded.calibration.targets) == 0
    np.testing.assert_allclose(loaded.scores(gallery.embeddings[:3]), gallery.scores(gallery.embeddings[:3]))
    assert loaded.outdated("unit_mean") == ([], ["newcomer"])
    assert "newcomer" in loaded.outdated_warning("unit_mean") and "s0" not in loaded.outdated_warning("unit_mean")
    assert gallery.outdated_warning("unit_mean") is None
    with pytest.raises(SingeridError, match="embedded as 'mean'"):
        loaded.enroll("newcomer", ["fresh"], gallery.embeddings[:1])
    loaded.save(tmp_path / "again")  # written back as version 2, the flag kept
    assert Gallery.load(tmp_path / "again").outdated("unit_mean") == ([], ["newcomer"])
