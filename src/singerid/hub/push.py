"""Pushes: a training run and a preprocessed dataset go to the Hub with their cards.

The Hub address and token are huggingface_hub's (`HF_ENDPOINT`, `HF_TOKEN` or a saved
login). A missing token or an unreachable Hub is a `HubError` with a one-line message.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi

from ..errors import SingeridError
from .cards import render_model_card

# What a training run's folder holds that belongs on the Hub (checkpoints and logs do not).
MODEL_FILES = ["*.safetensors", "*.py", "config.json", "preprocessor_config.json", "metrics.json",
               "training_summary.json", "confusion_matrix.png", "confusion_matrix.csv", "layer_weights.png",
               "per_artist_accuracy.csv", "README.md"]
DATASET_FILES = ["README.md", "preprocess_config.json", "preprocess_report.json"]


class HubError(SingeridError):
    """The Hub cannot be used: no token, a refused token, or no answer."""


def hub_api(token: str | None = None) -> tuple[HfApi, str]:
    """An authenticated client and the user name, or a HubError saying what is wrong."""
    from huggingface_hub import constants, get_token
    from huggingface_hub.errors import HfHubHTTPError

    token = token or get_token()
    if not token:
        raise HubError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    api = HfApi(token=token)
    try:
        user = api.whoami()["name"]
    except HfHubHTTPError as error:
        status = getattr(error.response, "status_code", "?")
        raise HubError(f"the Hub at {constants.ENDPOINT} refused the token (HTTP {status})") from None
    except Exception as error:  # connection refused, DNS, timeout: the client's own types vary
        raise HubError(f"cannot reach the Hub at {constants.ENDPOINT}: {type(error).__name__}: "
                       f"{str(error).splitlines()[0] if str(error) else ''}") from None
    return api, user


def _full_repo_id(repo_id: str, user: str) -> str:
    return repo_id if "/" in repo_id else f"{user}/{repo_id}"


def push_model(run_dir: str | Path, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Upload a training run (model, code, feature extractor, metrics, plots) with its card."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such folder; give a training output folder")
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"{run_dir}: not a saved model (no config.json); give a training output folder")
    api, user = hub_api(token)
    repo_id = _full_repo_id(repo_id, user)
    render_model_card(run_dir, repo_id).save(run_dir / "README.md")
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=run_dir, allow_patterns=MODEL_FILES,
                      ignore_patterns=["*/**"],  # only the run folder's top level: no checkpoints or logs
                      commit_message="Upload singer classifier")
    return repo_id


def push_dataset(dataset_dir: str | Path, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Upload a preprocessed DatasetDict with its audio embedded, its card and parameters."""
    from datasets import load_from_disk

    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise FileNotFoundError(f"{dataset_dir}: no such folder; give a folder written by preprocess.py")
    dataset = load_from_disk(str(dataset_dir))
    api, user = hub_api(token)
    repo_id = _full_repo_id(repo_id, user)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    # Our card and files first: push_to_hub then adds its dataset_info to the card's metadata.
    api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=dataset_dir, allow_patterns=DATASET_FILES,
                      commit_message="Upload card and preprocessing parameters")
    dataset.push_to_hub(repo_id, private=private, token=api.token, embed_external_files=True)
    return repo_id
