"""Every command, given a missing input folder, a model or backbone id that cannot be
reached, or missing separator weights, prints one line naming the problem and the remedy
and exits non-zero, with no traceback.

Nothing here reaches the network: the Hub is off (HF_HUB_OFFLINE=1), the Hugging Face and
torch caches are empty folders, and HTTP(S) proxies point at a closed port, so code that
tries to download anyway fails at once instead of fetching weights. Most cases run as
`python -m singerid.<command>`, as a user would; the ones that need no fresh caches run
in-process through `singerid.commands.main`, which is faster (every command keeps at least one
subprocess case).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import make_album_corpus, make_segment_dataset, write_tone
from singerid.commands import COMMANDS, main as cli_main

CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, a connection is refused at once
OFFLINE = r"HF_HUB_OFFLINE|offline"
# What a remedy reads like where the message has no fixed wording yet: it says what to do.
DO_SOMETHING = r"\b(give|pass|choose|check|point|use|run)\b"


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # command first; {placeholders} are filled from the fixtures
    problem: tuple[str, ...]  # regexes that must all match the error line: what is wrong, and with what
    remedy: tuple[str, ...]  # regexes that must all match it: what to do
    subprocess: bool = True  # False: in-process through singerid.commands.main
    env: tuple[tuple[str, str], ...] = ()


SEPARATOR_REMEDIES = (r"--demucs-repo", r"--separator none")
UNREACHABLE_ID = (r"download it where the Hub can be reached", r"give a local folder")

CASES = [
    # preprocess
    Case("preprocess-missing-input", ("preprocess", "--input", "{missing}/corpus", "--output", "{out}"),
         problem=("{missing}/corpus", r"does not exist|no such folder"), remedy=(DO_SOMETHING,), subprocess=False),
    Case("preprocess-demucs-repo-missing",
         ("preprocess", "--input", "{corpus}", "--output", "{out}", "--separator", "htdemucs",
          "--demucs-repo", "{missing}/demucs"),
         problem=("'htdemucs'", "{missing}/demucs"), remedy=SEPARATOR_REMEDIES, subprocess=False),
    Case("preprocess-separator-offline",
         ("preprocess", "--input", "{corpus}", "--output", "{out}", "--separator", "htdemucs"),
         problem=("'htdemucs'", OFFLINE), remedy=SEPARATOR_REMEDIES),
    # train
    Case("train-missing-dataset", ("train", "--dataset", "{missing}/dataset", "--output_dir", "{out}"),
         problem=("dataset {missing}/dataset", "no such folder"), remedy=(r"give an existing folder",),
         subprocess=False),
    Case("train-backbone-offline",
         ("train", "--dataset", "{dataset}", "--backbone", "m-a-p/MERT-v1-330M", "--output_dir", "{out}"),
         problem=("backbone m-a-p/MERT-v1-330M", OFFLINE), remedy=UNREACHABLE_ID),
    Case("train-backbone-missing-folder",
         ("train", "--dataset", "{dataset}", "--backbone", "{missing}/backbone", "--output_dir", "{out}"),
         problem=("backbone {missing}/backbone", "no such folder"), remedy=(r"give an existing folder",),
         subprocess=False),
    # evaluate_model
    Case("evaluate_model-missing-model",
         ("evaluate_model", "--model", "{missing}/model", "--dataset", "{dataset}", "--output", "{out}"),
         problem=("model {missing}/model", "no such folder"), remedy=(r"give an existing folder",), subprocess=False),
    Case("evaluate_model-model-offline",
         ("evaluate_model", "--model", "user/not-a-model", "--dataset", "{dataset}", "--output", "{out}"),
         problem=("model user/not-a-model", OFFLINE), remedy=UNREACHABLE_ID),
    Case("evaluate_model-missing-dataset",
         ("evaluate_model", "--model", "{model}", "--dataset", "{missing}/dataset", "--output", "{out}"),
         problem=("dataset {missing}/dataset", "no such folder"), remedy=(r"give an existing folder",),
         subprocess=False),
    # predict
    Case("predict-missing-input", ("predict", "--model", "{model}", "--input", "{missing}/songs", "--output", "{out}.csv"),
         problem=("{missing}/songs", r"no such file or folder|does not exist"), remedy=(DO_SOMETHING,),
         subprocess=False),
    Case("predict-model-offline",
         ("predict", "--model", "user/not-a-model", "--input", "{songs}", "--output", "{out}.csv"),
         problem=("model user/not-a-model", OFFLINE), remedy=UNREACHABLE_ID),
    Case("predict-separator-offline",  # the model records separator htdemucs; no weights here
         ("predict", "--model", "{model_htdemucs}", "--input", "{songs}", "--output", "{out}.csv"),
         problem=("'htdemucs'", OFFLINE), remedy=SEPARATOR_REMEDIES),
    # embed
    Case("embed-missing-input", ("embed", "--model", "{model}", "--input", "{missing}/songs", "--output", "{out}"),
         problem=("{missing}/songs", r"no such file or folder"), remedy=(DO_SOMETHING,), subprocess=False),
    Case("embed-model-offline", ("embed", "--model", "user/not-a-model", "--input", "{songs}", "--output", "{out}"),
         problem=("model user/not-a-model", OFFLINE), remedy=UNREACHABLE_ID),
    # enroll
    Case("enroll-missing-model",
         ("enroll", "--model", "{missing}/model", "--singer", "new", "--input", "{songs}"),
         problem=("model {missing}/model", "no such folder"), remedy=(r"give an existing folder",), subprocess=False),
    Case("enroll-model-offline",
         ("enroll", "--model", "user/not-a-model", "--singer", "new", "--input", "{songs}", "--output", "{out}"),
         problem=("model user/not-a-model", OFFLINE), remedy=UNREACHABLE_ID),
    # probe
    Case("probe-missing-dataset",
         ("probe", "--dataset", "{missing}/dataset", "--backbone", "tiny-mert", "--output", "{out}"),
         problem=("dataset {missing}/dataset", "no such folder"), remedy=(r"give an existing folder",),
         subprocess=False),
    Case("probe-missing-model", ("probe", "--dataset", "{dataset}", "--model", "{missing}/model", "--output", "{out}"),
         problem=("model {missing}/model", "no such folder"), remedy=(r"give an existing folder",), subprocess=False),
    Case("probe-backbone-offline",
         ("probe", "--dataset", "{dataset}", "--backbone", "m-a-p/MERT-v1-330M", "--output", "{out}"),
         problem=("backbone m-a-p/MERT-v1-330M", OFFLINE), remedy=UNREACHABLE_ID),
    # app: the model is loaded before anything is served
    Case("app-missing-model", ("app", "--model", "{missing}/model"),
         problem=("model {missing}/model", "no such folder"), remedy=(r"give an existing folder",), subprocess=False),
    Case("app-model-offline", ("app", "--model", "user/not-a-model"),
         problem=("model user/not-a-model", OFFLINE), remedy=UNREACHABLE_ID),
    # space: the model is looked at before anything is built or pushed
    Case("space-missing-model", ("space", "--model", "{missing}/run", "--output", "{out}"),
         problem=("{missing}/run", "no such model folder"), remedy=(r"give a training run's folder",)),
    # reproduce_table
    Case("reproduce_table-missing-data", ("reproduce_table", "--data", "{missing}/artist20", "--output", "{out}"),
         problem=("{missing}/artist20", r"does not exist|no such folder"), remedy=(DO_SOMETHING,), subprocess=False),
    Case("reproduce_table-separator-offline",  # tiny backbones: only the (default) separator is missing
         ("reproduce_table", "--data", "{corpus}", "--output", "{out}", "--quick",
          "--backbones", "mert=tiny-mert,wavlm=tiny-wavlm"),
         problem=("'htdemucs'", OFFLINE), remedy=SEPARATOR_REMEDIES),
    # push_to_hub: the folder is checked before the Hub is asked anything
    Case("push_to_hub-missing-model", ("push_to_hub", "--model", "{missing}/run", "--model-repo", "user/model"),
         problem=("{missing}/run", r"not a saved model|no such folder"), remedy=(r"give a training output folder",),
         env=(("HF_TOKEN", "x"), ("HF_ENDPOINT", CLOSED))),
    Case("push_to_hub-missing-dataset",
         ("push_to_hub", "--dataset", "{missing}/dataset", "--dataset-repo", "user/dataset"),
         problem=("{missing}/dataset", "no such folder"), remedy=(r"give a folder written by preprocess",),
         subprocess=False),
    # demo
    Case("demo-backbone-offline",
         ("demo", "--output", "{out}", "--backbone", "user/nonexistent-backbone", "--strategies", "weighted_sum",
          "--singers", "1", "--songs", "1", "--seconds", "3"),
         problem=("backbone user/nonexistent-backbone", OFFLINE), remedy=UNREACHABLE_ID),
    Case("demo-demucs-repo-missing",
         ("demo", "--output", "{out}", "--vocals", "demucs", "--demucs-repo", "{missing}/demucs",
          "--singers", "1", "--songs", "1", "--seconds", "3"),
         problem=("'htdemucs'", "{missing}/demucs"), remedy=(r"--demucs-repo",), subprocess=False),
    # make_demo_corpus: --out below a regular file
    Case("make_demo_corpus-out-under-a-file",
         ("make_demo_corpus", "--out", "{file}/corpus", "--singers", "1", "--songs", "1", "--seconds", "3"),
         problem=("{file}", r"(?i)not a (folder|directory)|is a file"), remedy=(DO_SOMETHING,)),
    # download_artist20: nothing listens at the URL
    Case("download_artist20-unreachable", ("download_artist20", "--output", "{out}", "--url", f"{CLOSED}/x.tgz"),
         problem=(re.escape(f"cannot download {CLOSED}/x.tgz"),), remedy=(DO_SOMETHING,)),
]


def test_every_command_has_a_case_and_a_subprocess_case():
    assert {case.argv[0] for case in CASES} == set(COMMANDS)
    assert {case.argv[0] for case in CASES if case.subprocess} == set(COMMANDS)
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> dict[str, str]:
    """Small inputs, built once: a dataset, two tiny random models (one recording separator
    htdemucs), a corpus, two songs, a regular file, a folder that does not exist."""
    from singerid.models.singer.modeling_singer import SingerClassifier

    root = tmp_path_factory.mktemp("inputs")
    dataset = make_segment_dataset(root / "dataset", artists=2, songs={"train": 1, "validation": 1, "test": 1})
    labels = {0: "artist_0", 1: "artist_1"}
    SingerClassifier.from_backbone("tiny-mert", id2label=labels).save_pretrained(root / "model")
    SingerClassifier.from_backbone("tiny-mert", id2label=labels,
                                   preprocessing={"separator": "htdemucs"}).save_pretrained(root / "model_htdemucs")
    corpus = make_album_corpus(root / "corpus", artists=2, albums=6, seconds=3.0)
    for name in ("one", "two"):
        write_tone(root / "songs" / f"{name}.wav", seconds=3.0)
    (root / "a_file").write_text("not a folder\n")
    return {"dataset": str(dataset), "model": str(root / "model"), "model_htdemucs": str(root / "model_htdemucs"),
            "corpus": str(corpus), "songs": str(root / "songs"), "file": str(root / "a_file"),
            "missing": str(root / "missing")}


@pytest.fixture(scope="module")
def isolated(tmp_path_factory) -> dict[str, str]:
    """Environment for the commands: offline, empty caches, no way out to the network."""
    home = tmp_path_factory.mktemp("home")
    env = {key: value for key, value in os.environ.items()
           if key not in ("SINGERID_DEBUG", "HF_TOKEN", "HF_ENDPOINT", "NO_PROXY", "no_proxy")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HF_HOME=str(home / "hf"), TORCH_HOME=str(home / "torch"), SINGERID_CACHE=str(home / "singerid"),
               XDG_CACHE_HOME=str(home / "xdg"), HTTP_PROXY=CLOSED, HTTPS_PROXY=CLOSED,
               http_proxy=CLOSED, https_proxy=CLOSED)
    return env


def _fill(argv: tuple[str, ...], values: dict[str, str]) -> list[str]:
    return [part.format(**values) for part in argv]


def _expected(patterns: tuple[str, ...], values: dict[str, str]) -> list[str]:
    # Placeholders stand for paths: fill them in literally, leave the rest a regex.
    return [re.sub(r"\{(\w+)\}", lambda match: re.escape(values[match.group(1)]), pattern) for pattern in patterns]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_command_error_is_one_line_with_the_remedy(case, fixtures, isolated, tmp_path, monkeypatch, capsys):
    values = {**fixtures, "out": str(tmp_path / "out")}
    command, *args = _fill(case.argv, values)
    if case.subprocess:
        env = {**isolated, **dict(case.env)}
        result = subprocess.run([sys.executable, "-m", "singerid", command, *args], capture_output=True,
                                text=True, timeout=300, env=env, cwd=tmp_path)
        code, stdout, stderr = result.returncode, result.stdout, result.stderr
    else:
        # Only cases that need no empty Hugging Face cache run here (huggingface_hub reads its
        # cache and offline settings once, at import): missing folders and a missing local repo.
        assert os.environ.get("HF_HUB_OFFLINE") == "1"
        for key in ("SINGERID_CACHE", "TORCH_HOME"):
            monkeypatch.setenv(key, isolated[key])
        monkeypatch.delenv("SINGERID_DEBUG", raising=False)
        monkeypatch.chdir(tmp_path)
        try:
            code = cli_main([command, *args])
        except SystemExit as exit_:  # argparse's usage errors
            code = exit_.code
        stdout, stderr = capsys.readouterr()
    shown = f"exit code {code}\n--- stderr:\n{stderr}\n--- stdout:\n{stdout[-2000:]}"

    assert code not in (0, None), shown
    assert "Traceback" not in stderr and "Traceback" not in stdout, shown
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, shown
    line = errors[0]
    for pattern in _expected(case.problem, values):
        assert re.search(pattern, line), f"the error does not name the problem ({pattern!r}): {line}"
    for pattern in _expected(case.remedy, values):
        assert re.search(pattern, line), f"the error does not say what to do ({pattern!r}): {line}"


def test_only_the_command_layer_ends_the_interpreter():
    """Library code raises; `sys.exit` and `SystemExit` belong to the commands alone."""
    package = Path(__file__).resolve().parents[1] / "src" / "singerid"
    commands = {f"{name}.py" for name in COMMANDS} | {"cli.py", "__main__.py"}
    exits = re.compile(r"\bsys\.exit\(|\braise SystemExit\b|^\s*exit\(", re.MULTILINE)
    library = [path for path in package.rglob("*.py") if path.name not in commands]
    assert len(library) > 10
    offenders = [str(path.relative_to(package)) for path in library if exits.search(path.read_text())]
    assert offenders == []
