"""A model's files are data, never a pointer to code.

demucs reads a separator name with a `/` as a Hub repository and calls the class its
safetensors metadata names. The attack: a model on the (loopback) Hub whose config names
the separator `test-user/htdemucs`, beside a repository `test-user/HTDemucs` whose metadata
names `os.system` with a command that writes a marker file. Every route that loads a
model's separator refuses it with one line, and the marker never appears.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from fakes.hub_server import HubServer, hub_env
from helpers import ranked_model, write_tone
from singerid.prediction import predict_songs
from singerid.preprocessing.separation import UntrustedSeparator, check_recorded_separator, published_separators

USER = "test-user"
EVIL_SEPARATOR = f"{USER}/htdemucs"  # demucs fetches it from the repo test-user/HTDemucs
PREPROCESSING = {"remove_silence": False, "segment_seconds": 5.0, "sampling_rate": 24000}
REMEDIES = ("--demucs-repo DIR", "--separator none")


def _evil_separator_repo(folder: Path, marker: Path, name: str = "htdemucs") -> Path:
    """demucs's Hub format (a bag `<name>.yaml` and one safetensors file per model) whose
    metadata makes demucs call `os.system("touch MARKER")`."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    (folder / f"{name}.yaml").write_text("models: ['f00dcafe']\n")
    save_file({"weight": torch.zeros(1)}, str(folder / "f00dcafe.safetensors"),
              metadata={"klass": "os.system", "args": json.dumps([f"touch {marker}"]), "kwargs": "{}"})
    return folder


def _upload(repo: str, folder: Path, env: dict) -> None:
    _run(f"""
        import json
        from huggingface_hub import HfApi
        HfApi().create_repo({repo!r})
        HfApi().upload_folder(repo_id={repo!r}, folder_path={str(folder)!r})
        print(json.dumps({{}}))
    """, env)


def _run(code: str, env: dict, timeout: int = 300) -> dict:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def evil_hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("evil")
    marker = root / "MARKER"
    model = ranked_model({**PREPROCESSING, "separator": EVIL_SEPARATOR})
    model.save_pretrained(root / "model")
    _evil_separator_repo(root / "separator", marker)
    song = write_tone(root / "songs" / "song.wav", seconds=6.0, rate=24000)
    with HubServer(root / "storage") as server:
        env = hub_env(server, root / "hf_home")
        _upload(f"{USER}/singer", root / "model", env)
        _upload(f"{USER}/HTDemucs", root / "separator", env)
        yield {"server": server, "root": root, "marker": marker, "song": song, "env": env}


def test_the_attack_is_real_demucs_alone_runs_the_repositorys_command(evil_hub, tmp_path):
    """Without singerid's check, demucs's own loader runs the command: the attack works."""
    proof = tmp_path / "PROOF"
    env = hub_env(evil_hub["server"], tmp_path / "hf_home")
    _upload(f"{USER}/HTDemucs-proof", _evil_separator_repo(tmp_path / "repo", proof, "htdemucs_proof"), env)
    _run(f"""
        import json
        from demucs.pretrained import get_model
        try:
            get_model("{USER}/htdemucs_proof")
        except BaseException:  # the state does not fit os.system's return value
            pass
        print(json.dumps({{}}))
    """, env)
    assert proof.exists()


def test_every_route_refuses_the_models_separator_and_the_command_never_runs(evil_hub, tmp_path):
    """predict, embed, enroll and the page: exit 1, one line naming the separator and both
    remedies; the marker never appears. The user's own `--separator none` predicts."""
    song, out = str(evil_hub["song"]), tmp_path / "out"
    model = f"{USER}/singer"
    commands = {
        "predict": ["predict", "--model", model, "--input", song, "--output", str(out / "answers.csv")],
        "embed": ["embed", "--model", model, "--input", song, "--output", str(out / "embeddings")],
        "enroll": ["enroll", "--model", model, "--singer", "eve", "--input", song, "--output", str(out / "enrolled")],
        "app": ["app", "--model", model, "--port", "0"],
        "predict_none": ["predict", "--model", model, "--input", song, "--output", str(out / "none.csv"),
                         "--separator", "none"],
    }
    results = _run(f"""
        import contextlib, io, json
        import singerid.app
        from singerid.commands import main

        def serve(*args, **kwargs):  # the page must be refused before it serves: never here
            raise KeyboardInterrupt

        singerid.app.launch = serve
        results = {{}}
        for name, argv in {commands!r}.items():
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr):
                code = main(argv)
            results[name] = {{"code": code, "stderr": stderr.getvalue()}}
        print(json.dumps(results))
    """, evil_hub["env"])
    assert not evil_hub["marker"].exists(), "the separator repository's command ran"
    for name in ("predict", "embed", "enroll", "app"):
        result = results[name]
        errors = [line for line in result["stderr"].splitlines() if line.startswith("error:")]
        assert result["code"] == 1, (name, result)
        assert len(errors) == 1 and "Traceback" not in result["stderr"], (name, result["stderr"])
        assert EVIL_SEPARATOR in errors[0] and all(remedy in errors[0] for remedy in REMEDIES), (name, errors[0])
    assert not (out / "answers.csv").exists() and not (out / "enrolled").exists()
    assert results["predict_none"]["code"] == 0, results["predict_none"]
    assert (out / "none.csv").read_text().split(",")[0] == "song"


@pytest.mark.parametrize("name", ["someone/htdemucs", "hf://someone/htdemucs", "../weights", "htdemucs:x", ""])
def test_a_name_from_a_file_that_is_not_a_plain_demucs_name_is_refused_even_with_a_local_repo(name, tmp_path):
    with pytest.raises(UntrustedSeparator) as raised:
        check_recorded_separator(name, "model/config.json (preprocessing.separator)", demucs_repo=tmp_path)
    line = str(raised.value)
    assert "\n" not in line and "model/config.json" in line and all(remedy in line for remedy in REMEDIES)


def test_demucs_published_models_and_none_pass_and_others_need_a_local_repo(tmp_path):
    published = published_separators()
    assert {"htdemucs", "htdemucs_ft", "mdx_extra"} <= published
    for name in [*published, "none", "None"]:
        check_recorded_separator(name, "config.json")
    with pytest.raises(UntrustedSeparator, match="not one of demucs's published models"):
        check_recorded_separator("tiny_htdemucs", "config.json")
    check_recorded_separator("tiny_htdemucs", "config.json", demucs_repo=tmp_path)


def test_a_local_model_naming_a_hub_separator_is_refused_before_any_song_is_read(tmp_path):
    folder = tmp_path / "model"
    ranked_model({**PREPROCESSING, "separator": "hf://someone/htdemucs"}).save_pretrained(folder)
    song = write_tone(tmp_path / "song.wav", seconds=2.0, rate=24000)
    with pytest.raises(UntrustedSeparator, match=str(folder / "config.json")):
        predict_songs([song], str(folder), progress=False)
    # the user's own choice wins
    assert predict_songs([song], str(folder), separator="none", progress=False)[0].labels[0] == "bob"
