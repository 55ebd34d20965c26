"""Sharing: cards rendered from the templates in hub_cards/, and pushes to the Hub.

The Hub address and token are huggingface_hub's (`HF_ENDPOINT`, `HF_TOKEN` or a saved
login). A missing token or an unreachable Hub is a `HubError` with a one-line message.
"""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData, EvalResult, HfApi, ModelCard, ModelCardData

from .errors import SingeridError

# `cards` is a link to the repository's hub_cards/ folder, shipped as package data.
CARDS_DIR = Path(__file__).with_name("cards")
# What a training run's folder holds that belongs on the Hub (checkpoints and logs do not).
MODEL_FILES = ["*.safetensors", "*.py", "config.json", "preprocessor_config.json", "metrics.json",
               "training_summary.json", "confusion_matrix.png", "confusion_matrix.csv", "layer_weights.png",
               "per_artist_accuracy.csv", "README.md"]
DATASET_FILES = ["README.md", "preprocess_config.json", "preprocess_report.json"]
MERT_LICENCE = "cc-by-nc-4.0"


class HubError(SingeridError):
    """The Hub cannot be used: no token, a refused token, or no answer."""


# -- dataset card ------------------------------------------------------------------------
def write_dataset_card(output_dir: str | Path, result, config, source: str) -> Path:
    """Render hub_cards/dataset_card.md for a preprocessed DatasetDict into OUTPUT/README.md.

    `source` names the corpus (a folder's name, not its path: the card is shared)."""
    songs = list(result.songs.values())
    split_rows = []
    for split, dataset in result.dataset.items():
        ok = [s for s in songs if s.split == split and s.status == "ok"]
        split_rows.append({
            "split": split, "songs": len(ok), "segments": dataset.num_rows,
            "albums": len(set(zip(dataset["artist"], dataset["album"]))),
        })
    skipped = [s for s in songs if s.status == "skipped"]
    artists = result.dataset["train"].features["label"].names
    card_data = DatasetCardData(
        pretty_name="Singer identification segments",
        task_categories=["audio-classification"],
        tags=["singer-identification", "music", "singerid"],
        size_categories=[_size_category(sum(row["segments"] for row in split_rows))],
    )
    card = DatasetCard.from_template(
        card_data,
        template_path=str(CARDS_DIR / "dataset_card.md"),
        pretty_name="Singer identification segments",
        source=source,
        sampling_rate=config.sampling_rate,
        num_artists=len(artists),
        split_rows=split_rows,
        skipped_note=f"{len(skipped)} undecodable file(s) were skipped; see preprocess_report.json." if skipped else "",
        split_rule="per artist, albums sorted by name: the last album is test, the one before it "
        "validation, the rest train (artist20's 4 / 1 / 1 for six albums), unless list files were given.",
        preprocessing=config.to_dict(),
        separator_text=f"demucs `{config.separator}`, vocals stem" if config.uses_separator else "none: the full mix",
        silence_text=f"below {config.silence_db} dBFS for at least {config.min_silence_seconds} s, cut out"
        if config.remove_silence else "off",
        segment_seconds=config.segment_seconds,
        hop_seconds=config.hop_seconds,
        min_segment_seconds=config.min_segment_seconds,
        command_options=_options(config),
    )
    path = Path(output_dir, "README.md")
    card.save(path)
    return path


def _options(config) -> str:
    parts = [f"--sampling-rate {config.sampling_rate}", f"--separator {config.separator}",
             f"--segment-seconds {config.segment_seconds}", f"--hop-seconds {config.hop_seconds}",
             f"--min-segment-seconds {config.min_segment_seconds}"]
    parts += [f"--silence-db {config.silence_db}", f"--min-silence-seconds {config.min_silence_seconds}"] \
        if config.remove_silence else ["--no-silence-removal"]
    return " ".join(parts)


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return name
    return "n>1M"


# -- model card --------------------------------------------------------------------------
# metrics.json key → model-index (type, name, args)
MODEL_INDEX_METRICS = {"song_top1": ("accuracy", "Song top-1 accuracy", {"k": 1}),
                       "song_top3": ("accuracy", "Song top-3 accuracy", {"k": 3}),
                       "song_macro_f1": ("f1", "Song macro-F1", {"average": "macro"})}


def render_model_card(run_dir: str | Path, repo_id: str) -> ModelCard:
    """The model card of a training run folder, from its config.json, metrics.json and
    training_summary.json."""
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    metrics = _read_json(run_dir / "metrics.json")
    summary = _read_json(run_dir / "training_summary.json")
    backbone = config.get("backbone_id") or "unknown"
    dataset = summary.get("dataset", "unknown")
    is_random = backbone.startswith("tiny-")  # singerid's random test architectures
    is_mert = "mert" in backbone.lower() and not is_random
    preprocessing = config.get("preprocessing") or {}
    eval_results = [
        EvalResult(task_type="audio-classification", task_name="Singer identification", dataset_type=dataset,
                   dataset_name=dataset, dataset_split=split,
                   metric_type=kind, metric_name=name, metric_args=metric_args, metric_value=round(values[key], 4))
        for split, values in metrics.items() for key, (kind, name, metric_args) in MODEL_INDEX_METRICS.items()
    ]
    card_data = ModelCardData(
        model_name=repo_id.split("/")[-1], license=_licence(is_mert, is_random),
        license_name="see-backbone" if _licence(is_mert, is_random) == "other" else None, library_name="transformers",
        pipeline_tag="audio-classification", tags=["singer-identification", "music", "singerid", config["strategy"]],
        base_model=backbone if "/" in backbone else None,  # a Hub id (local folders are recorded by name)
        eval_results=eval_results or None, metrics=["accuracy", "f1"],
    )
    labels = [config["id2label"][str(index)] for index in range(len(config["id2label"]))]
    return ModelCard.from_template(
        card_data,
        template_path=str(CARDS_DIR / "model_card.md"),
        model_name=repo_id.split("/")[-1],
        repo_id=repo_id,
        num_labels=len(labels),
        labels=", ".join(f"`{label}`" for label in labels),
        backbone=backbone,
        backbone_params=f"{_backbone_parameters(run_dir):,}",
        num_hidden_states=config["encoder_config"]["num_hidden_layers"] + 1,
        strategy=config["strategy"],
        strategy_text="frozen backbone, softmax-weighted sum of all layers" if config["strategy"] == "weighted_sum"
        else "the transformer fine-tuned, last layer",
        dataset=dataset,
        segment_seconds=preprocessing.get("segment_seconds", config["chunk_seconds"]),
        chunk_seconds=config["chunk_seconds"],
        sampling_rate=config["sampling_rate"],
        results=[{"split": split, **{key: value if key.startswith("num_") else f"{value:.3f}"
                                     for key, value in values.items()}} for split, values in metrics.items()],
        has_confusion_matrix=(run_dir / "confusion_matrix.png").is_file(),
        confusion_matrix="confusion_matrix.png",
        preprocessing=preprocessing,
        preprocessing_text=_preprocessing_text(preprocessing),
        hyperparameters={key: value for key, value in summary.items()
                         if key not in ("dataset", "backbone", "strategy") and value not in (None, -1)},
        licence_text=_licence_text(backbone, is_mert, is_random),
    )


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _backbone_parameters(run_dir: Path) -> int:
    """Counted from the safetensors header; no weights are loaded."""
    from math import prod

    from safetensors import safe_open

    with safe_open(run_dir / "model.safetensors", framework="np") as weights:
        return sum(prod(weights.get_slice(name).get_shape()) for name in weights.keys() if name.startswith("backbone."))


def _licence(is_mert: bool, is_random: bool) -> str:
    return MERT_LICENCE if is_mert else "apache-2.0" if is_random else "other"


def _preprocessing_text(preprocessing: dict) -> str:
    if not preprocessing:
        return "audio as given (no preprocessing parameters were recorded)"
    separator = preprocessing.get("separator", "none")
    parts = [f"vocals separated with demucs `{separator}`" if separator != "none" else "the full mix (no separation)"]
    if preprocessing.get("remove_silence"):
        parts.append(f"silence below {preprocessing.get('silence_db')} dBFS removed")
    parts.append(f"{preprocessing.get('segment_seconds')} s segments at {preprocessing.get('sampling_rate')} Hz")
    return ", ".join(parts)


def _licence_text(backbone: str, is_mert: bool, is_random: bool) -> str:
    if is_random:
        return (f"`{backbone}` is one of singerid's randomly initialised test architectures: no third-party "
                "weights. Apache-2.0, like singerid's code.")
    if is_mert:
        return (f"The backbone weights ({backbone}) are MERT's, released under CC-BY-NC-4.0: this model is "
                "for non-commercial use, with attribution to the MERT authors (m-a-p). singerid's code is Apache-2.0.")
    return (f"The backbone weights come from `{backbone}`; their licence applies to this model (WavLM: see "
            "Microsoft's model card). singerid's code is Apache-2.0.")


# -- pushing -----------------------------------------------------------------------------
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
