"""The audio-classification pipeline, by both routes, each in a fresh process."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch

from singerid import SingerClassifier

LABELS = {0: "ann", 1: "bob", 2: "cat"}
RATE = 24000


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved tiny model, clips to classify, and the model's own song probabilities."""
    root = tmp_path_factory.mktemp("pipeline")
    torch.manual_seed(0)
    model = SingerClassifier.from_backbone("tiny-mert", id2label=LABELS).eval()
    with torch.no_grad():  # make the classes distinguishable so the ranking is meaningful
        model.head[3].bias.copy_(torch.tensor([0.0, 1.0, 2.0]))
    model.save_pretrained(root / "model")
    rng = np.random.default_rng(0)
    clips = {"clip": rng.standard_normal(5 * RATE), "song": rng.standard_normal(180 * RATE)}
    clips = {name: (0.1 * wave).astype(np.float32) for name, wave in clips.items()}
    for name, wave in clips.items():
        np.save(root / f"{name}.npy", wave)
    sf.write(root / "song.wav", clips["song"], RATE, subtype="FLOAT")
    with torch.no_grad():
        expected = {name: model(torch.from_numpy(wave)[None]).logits.softmax(-1)[0].tolist()
                    for name, wave in clips.items()}
    return root, expected


def _classify(root, prelude, model_kwargs):
    code = textwrap.dedent(f"""
        import json, sys
        {prelude}
        import numpy as np
        from transformers import pipeline
        classify = pipeline("audio-classification", model={str(root / "model")!r}{model_kwargs})
        root = {str(root)!r}
        results = {{
            "clip": classify(np.load(root + "/clip.npy"), top_k=3),
            "song": classify(np.load(root + "/song.npy"), top_k=3),
            "file": classify(root + "/song.wav", top_k=3),
        }}
        print(json.dumps({{"module": type(classify.model).__module__, "results": results}}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HF_HOME": str(root / "hf_home")})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check(results, expected):
    for name, source in (("clip", "clip"), ("song", "song"), ("file", "song")):
        ranking = results[name]
        assert [row["label"] for row in ranking] == ["cat", "bob", "ann"]
        scores = {row["label"]: row["score"] for row in ranking}
        want = dict(zip(LABELS.values(), expected[source]))
        for label in LABELS.values():
            assert scores[label] == pytest.approx(want[label], abs=1e-4)


def test_remote_code_route_without_singerid(saved):
    root, expected = saved
    # As on a machine without singerid: importing it fails.
    output = _classify(root, 'sys.modules["singerid"] = None', ", trust_remote_code=True")
    assert output["module"].startswith("transformers_modules.")
    _check(output["results"], expected)


def test_import_route_without_remote_code(saved):
    root, expected = saved
    output = _classify(root, "import singerid", "")
    assert output["module"] == "singerid.models.singer.modeling_singer"
    _check(output["results"], expected)


def test_an_array_at_another_rate_is_resampled(saved):
    root, _ = saved
    from transformers import pipeline

    from singerid.audio import resample

    classify = pipeline("audio-classification", model=str(root / "model"))
    at_8k = np.load(root / "song.npy")[: 20 * RATE : 3].copy()
    given = classify({"raw": at_8k, "sampling_rate": 8000}, top_k=3)
    by_hand = classify(resample(at_8k, 8000, RATE), top_k=3)
    as_if_24k = classify(at_8k, top_k=3)  # what ignoring the rate would give
    assert given == by_hand
    assert given != as_if_24k
