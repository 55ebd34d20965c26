"""A Hugging Face Space that serves a model's page (`singerid app`) on free CPU hardware.

    build_space(model, folder) ─▶ folder: README.md (front matter), app.py, space.json,
        requirements.txt, packages.txt, wheels/singerid-*.whl, and model/ for a local run
    push_space(folder, space_id) ─▶ the Space on the Hub (repo_type "space")
    singerid.app.serve_space(folder) ─▶ the page, as the Space's app.py starts it

How singerid gets into the Space: it is not on a package index, so the Space carries a
wheel built from this source tree, and unsilence must be installed without its dependencies
(it pins an old rich, which Gradio cannot share), which a requirements line cannot say. The
Space's requirements.txt therefore pins singerid's dependencies only, to the versions
installed here (tested together); app.py installs the wheel and unsilence with --no-deps at
start-up when they are missing. A Docker Space would do the same with more to maintain, and
a vendored silence detector would be a second copy of unsilence.

The model: a Hub id is loaded at the revision it had when the Space was built, never copied
(a private one with the Space's HF_TOKEN secret); a local run is bundled into model/. The
Space classifies the raw mix: a full-size htdemucs separates at about real time on two
cores, too slow for free hardware, so vocal separation is off and the page says so.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import SingeridError, is_a_path, one_line
from ..outputs import RUN_RECORD
from .push import MODEL_FILES, _full_repo_id, hub_api

logger = logging.getLogger(__name__)

SETTINGS_FILE = "space.json"
MODEL_FOLDER = "model"
WHEELS_FOLDER = "wheels"
APP_FILE = "app.py"
UNSILENCE = "unsilence"
# Tighter than `singerid app`'s defaults: MERT-330M answers a 5-minute song in about a
# minute on the free tier's two cores.
SPACE_MAX_UPLOAD_MB = 20
SPACE_MAX_DURATION_MINUTES = 5
SPACE_HARDWARE = "cpu-basic"
LARGE_MODEL_MB = 1024  # a bundled model above this makes the Space slow to build and clone: said so
# The model's files the Space needs (code never: the model class is singerid's own).
SPACE_MODEL_FILES = [pattern for pattern in MODEL_FILES if pattern != "*.py"]
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def build_space(model: str | Path, folder: str | Path, space_id: str | None = None) -> Path:
    """Write a Space for `model` (a saved model folder, or a Hub id) into `folder`; returns it."""
    folder = Path(folder)
    local = Path(str(model)).is_dir()
    if not local and is_a_path(str(model)):
        raise FileNotFoundError(f"{model}: no such model folder; give a training run's folder or a Hub id")
    folder.mkdir(parents=True, exist_ok=True)
    if local:
        name, revision, metrics = Path(model).resolve().name, None, _bundle_model(Path(model), folder / MODEL_FOLDER)
    else:
        name, revision, metrics = str(model), *_hub_model(str(model))
    settings = {"model": name if not local else MODEL_FOLDER, "revision": revision, "name": name,
                "title": space_title(name, metrics), "separator": "none",
                "max_upload_mb": SPACE_MAX_UPLOAD_MB, "max_duration_minutes": SPACE_MAX_DURATION_MINUTES,
                "unsilence": importlib.metadata.version(UNSILENCE)}
    (folder / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n")
    wheel = build_wheel(folder / WHEELS_FOLDER)
    shutil.copyfile(Path(__file__).parents[1] / "space_app.py", folder / APP_FILE)
    (folder / "requirements.txt").write_text(space_requirements())
    (folder / "packages.txt").write_text("ffmpeg\n")
    (folder / "README.md").write_text(space_readme(settings, None if local else name, wheel.name, space_id))
    return folder


def push_space(folder: str | Path, space_id: str, private: bool = False, hardware: str = SPACE_HARDWARE,
               token: str | None = None) -> str:
    """Create (or update) the Space `space_id` from a folder `build_space` wrote; returns its id."""
    api, user = hub_api(token)
    space_id = _full_repo_id(space_id, user)
    api.create_repo(space_id, repo_type="space", space_sdk="gradio", space_hardware=hardware, private=private,
                    exist_ok=True)
    api.upload_folder(repo_id=space_id, repo_type="space", folder_path=folder,
                      ignore_patterns=[".*", ".*/**", "*/.*", RUN_RECORD],  # caches, the --output run record
                      commit_message="Upload singerid Space")
    return space_id


# -- what the Space holds ----------------------------------------------------------------
def _bundle_model(run: Path, target: Path) -> dict:
    """Copy a run's model files (top level only) into `target`; returns its metrics."""
    if not (run / "config.json").is_file():
        raise FileNotFoundError(f"{run}: not a saved model (no config.json); give a training run's folder")
    target.mkdir(parents=True, exist_ok=True)
    size = 0
    for path in sorted(run.iterdir()):
        if path.is_file() and any(fnmatch.fnmatch(path.name, pattern) for pattern in SPACE_MODEL_FILES):
            shutil.copyfile(path, target / path.name)
            size += path.stat().st_size
    if size > LARGE_MODEL_MB * 2**20:
        logger.warning("the model's files take %.1f GB in the Space: push the model to the Hub and build the Space "
                       "from its id instead, so the Space loads it without a copy", size / 2**30)
    return _read_metrics(target / "metrics.json")


def _hub_model(repo_id: str) -> tuple[str, dict]:
    """The model's current commit, to pin, and its metrics.json there (if any)."""
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    try:
        revision = HfApi().model_info(repo_id).sha
    except (HfHubHTTPError, OSError, ValueError) as error:
        raise SingeridError(f"{repo_id}: cannot read the model on the Hub ({one_line(error)})") from None
    try:
        metrics = _read_metrics(Path(hf_hub_download(repo_id, "metrics.json", revision=revision)))
    except EntryNotFoundError:
        metrics = {}
    return revision, metrics


def _read_metrics(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError) as error:
        raise SingeridError(f"{path.name}: not readable metrics ({one_line(error)})") from None


def space_title(name: str, metrics: dict) -> str:
    """The page's title: the model, and its test songs' top-1 and top-3 from its metrics."""
    test = metrics.get("test", {}) if isinstance(metrics, dict) else {}
    scores = [f"{label} {test[key]:.3f}" for key, label in (("song_top1", "top-1"), ("song_top3", "top-3"))
              if isinstance(test.get(key), (int, float))]
    return f"Who is singing? {name}" + (f" (test songs: {', '.join(scores)})" if scores else "")


def build_wheel(target: Path) -> Path:
    """A wheel of this singerid, built from its source tree (singerid is on no package index)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").is_file():
        raise SingeridError("singerid space bundles singerid as a wheel built from its source: run it from a "
                            "source checkout (pip install -e .)")
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("singerid-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory() as scratch:  # setuptools' build folders stay out of the tree
        result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                                 "--quiet", "--wheel-dir", str(target), str(root)],
                                cwd=scratch, capture_output=True, text=True, env={**os.environ, "TMPDIR": scratch})
    wheels = list(target.glob("singerid-*.whl"))
    if result.returncode or len(wheels) != 1:
        raise SingeridError(f"building singerid's wheel failed: {(result.stderr or result.stdout).strip()[-300:]}")
    return wheels[0]


def space_requirements() -> str:
    """singerid's dependencies and the app's (Gradio), each pinned to the version installed
    here; torch from its CPU index (the free hardware has no GPU)."""
    names = [re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
             for requirement in importlib.metadata.requires("singerid") or []
             if "extra ==" not in requirement or 'extra == "app"' in requirement]
    lines = [f"--extra-index-url {TORCH_CPU_INDEX}"]
    for name in sorted(set(names), key=str.lower):
        try:
            lines.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            raise SingeridError(f"{name} is not installed here, so the Space cannot pin it: pip install "
                                f"'singerid[app]'") from None
    return "\n".join(lines) + "\n"


def space_readme(settings: dict, model_repo: str | None, wheel: str, space_id: str | None) -> str:
    front = ["---", f"title: {json.dumps(settings['name'][-30:])}", "emoji: 🎤", "colorFrom: indigo",
             "colorTo: pink", "sdk: gradio", f"sdk_version: {importlib.metadata.version('gradio')}",
             f"app_file: {APP_FILE}", f"python_version: \"{sys.version_info.major}.{sys.version_info.minor}\"",
             "pinned: false"]
    if model_repo:
        front += ["models:", f"  - {model_repo}"]
    front += ["tags:", "  - singer-identification", "  - singerid", "---"]
    where = (f"[{model_repo}](https://huggingface.co/{model_repo}) at revision `{settings['revision']}`, loaded "
             f"at start-up (not copied here)" if model_repo else f"bundled in `{MODEL_FOLDER}/`")
    body = f"""
# {settings['title']}

Upload or record a song and see who sings it: the top singers, `unknown` where the model's
gallery says none of them, and a timeline of who sings when. Built by singerid's
`singerid space`{f" as `{space_id}`" if space_id else ""}.

- **Model:** {where}.
- **Limits**, for free CPU hardware: uploads up to {settings['max_upload_mb']} MB, songs up to
  {settings['max_duration_minutes']} minutes.
- **Raw mix:** vocal separation is off (a full-size htdemucs separates at about real time on
  two cores); the model hears the whole mix.

## What this Space holds
- `{APP_FILE}`: installs singerid from `{WHEELS_FOLDER}/{wheel}` and unsilence {settings['unsilence']}
  without their dependencies when they are missing (unsilence pins an old `rich`), then serves the page.
- `{SETTINGS_FILE}`: the model, its revision, the page's title and limits.
- `requirements.txt`: singerid's dependencies and Gradio, pinned; `packages.txt`: ffmpeg.
{"" if model_repo else f"- `{MODEL_FOLDER}/`: the model's weights, config, gallery and metrics.{chr(10)}"}
## A private model
Add a secret `HF_TOKEN` (Settings → Variables and secrets) holding a token that can read the
model; the Space reads the model with it.
"""
    return "\n".join(front) + "\n" + body


# -- at the Space's start-up (singerid.app.serve_space) ---------------------------------------
def space_settings(folder: Path) -> dict:
    return json.loads((folder / SETTINGS_FILE).read_text())


def space_model(folder: Path, settings: dict) -> Path:
    """The model's folder: the bundled one, or the Hub model's files at the pinned revision
    in the Hugging Face cache (read with HF_TOKEN, a private model's Space secret)."""
    if settings["revision"] is None:
        return folder / MODEL_FOLDER
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(settings["model"], revision=settings["revision"],
                                  allow_patterns=SPACE_MODEL_FILES))

