"""The shape of the code: layers import downward only, the model's folder is closed, and
`import singerid` needs nothing but torch and transformers."""

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "singerid"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "model_v0_1"
# Top to bottom; a module may import from its own layer and the layers below it.
LAYERS = [
    {"commands", "__main__", "space_app"},
    {"recipes", "app"},
    {"training", "evaluation", "prediction", "enrollment", "pipelines", "hub", "probing"},
    {"preprocessing", "data", "reports", "metrics", "gallery"},
    {"models", "audio", "digests", "errors", "outputs", "names"},
]
HEAVY = ("datasets", "demucs", "soundfile", "torchcodec", "evaluate", "matplotlib", "sklearn")


def _layer(name: str) -> int:
    return next(index for index, members in enumerate(LAYERS) if name in members)


def _singerid_imports(path: Path) -> list[str]:
    """The top-level singerid modules a file imports (`..data` → data), wherever in the file."""
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]  # ('singerid', 'hub')
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                parts = [*base, *(node.module.split(".") if node.module else [])]
                if not node.module:  # `from . import x`
                    parts += [alias.name for alias in node.names][:1]
            else:
                parts = (node.module or "").split(".")
            if parts[0] == "singerid" and len(parts) > 1:
                found.append(parts[1])
        elif isinstance(node, ast.Import):
            found += [alias.name.split(".")[1] for alias in node.names
                      if alias.name.startswith("singerid.")]
    return found


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if top != "__init__":
            yield path, top


def test_every_module_has_a_layer():
    assert {top for _, top in _modules()} <= set().union(*LAYERS)


@pytest.mark.parametrize("path,top", list(_modules()), ids=lambda item: str(item)[-40:] if isinstance(item, Path) else "")
def test_imports_run_downward(path, top):
    above = [name for name in _singerid_imports(path) if name != "__init__" and _layer(name) < _layer(top)]
    assert above == [], f"{path.relative_to(PACKAGE)} imports from a layer above it: {above}"


def test_the_layer_check_can_fail(tmp_path):
    bad = PACKAGE / "preprocessing" / "_probe_for_test.py"
    bad.write_text("from ..hub import push_model\nfrom singerid.training import run_training\n")
    try:
        assert [name for name in _singerid_imports(bad) if _layer(name) < _layer("preprocessing")] == \
            ["hub", "training"]
    finally:
        bad.unlink()


def test_the_models_folder_imports_nothing_outside_itself():
    folder = PACKAGE / "models" / "singer"
    files = sorted(folder.glob("*.py"))
    assert {path.name for path in files} >= {"configuration_singer.py", "modeling_singer.py", "backbones.py",
                                             "segments.py"}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1 and (folder / f"{node.module}.py").is_file(), \
                    f"{path.name} imports {'.' * node.level}{node.module or ''} from outside models/singer"
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            assert not any(name.split(".")[0] == "singerid" for name in names), f"{path.name} imports singerid"


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_import_singerid_loads_none_of_the_heavy_libraries():
    loaded = json.loads(_python(f"""
        import json, sys
        # what transformers' own audio models and pipeline load by themselves does not count
        from transformers import HubertModel, WavLMModel, AudioClassificationPipeline, pipeline
        before = set(sys.modules)
        import singerid
        print(json.dumps(sorted(name for name in set(sys.modules) - before if name.split(".")[0] in {HEAVY!r})))
    """))
    assert loaded == []


def test_the_model_and_the_pipeline_work_with_torch_and_transformers_alone():
    scores = json.loads(_python(f"""
        import json, sys
        for name in {HEAVY[:2] + HEAVY[3:]!r}:  # soundfile comes with transformers' audio utilities
            sys.modules[name] = None  # not installed
        import numpy as np
        import singerid
        from transformers import pipeline
        classify = pipeline("audio-classification", model={str(FIXTURE)!r})
        print(json.dumps(classify(np.zeros(24000, dtype=np.float32), top_k=3)))
    """))
    assert sorted(row["label"] for row in scores) == ["ann", "bob", "cat"]


def _fixture_wave() -> np.ndarray:
    samples = 7 * 24000
    return (0.1 * np.sin(2 * np.pi * 220 * np.arange(samples) / 24000) * np.linspace(0.2, 1, samples)).astype(np.float32)


def test_a_model_saved_by_the_first_layout_loads_and_scores_as_it_did():
    import torch
    from transformers import AutoModelForAudioClassification, pipeline

    import singerid  # noqa: F401  (registers the Auto classes: the import route)

    expected = json.loads((FIXTURE / "expected_scores.json").read_text())
    model = AutoModelForAudioClassification.from_pretrained(FIXTURE).eval()
    with torch.no_grad():
        probabilities = model(torch.from_numpy(_fixture_wave())[None]).logits.softmax(-1)[0].tolist()
    assert dict(zip(["ann", "bob", "cat"], probabilities)) == pytest.approx(expected["probabilities"], abs=1e-6)
    scores = {row["label"]: row["score"] for row in pipeline("audio-classification", model=str(FIXTURE))(
        _fixture_wave(), top_k=3)}
    assert scores == pytest.approx(expected["pipeline"], abs=1e-6)
