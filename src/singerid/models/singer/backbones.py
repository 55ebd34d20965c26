"""Self-supervised backbones: presets, and loading MERT, HuBERT and WavLM checkpoints.

MERT-v1 checkpoints ship their own `modeling_MERT.py`, which no longer works with
transformers 5. Their weights are HuBERT's, so we read the checkpoint's config.json,
rebuild it as a native `HubertConfig` and load the weights into `HubertModel`: no code
from the model repository is ever downloaded or run.

This module is copied beside saved models (the model's code imports it), so it imports
nothing from singerid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from transformers import HubertConfig, HubertModel, PreTrainedConfig, WavLMConfig, WavLMModel

# Keys of a MERT config.json that describe the remote code, not the network.
_MERT_ONLY_KEYS = ("auto_map", "architectures", "model_type", "_name_or_path", "transformers_version", "torch_dtype")

# The convolutional feature encoder shared by HuBERT, MERT and WavLM: 320x downsampling.
_CONV = dict(conv_dim=(512,) * 7, conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2))


class UnsupportedBackbone(ValueError):
    """A checkpoint singerid cannot load as a MERT, HuBERT or WavLM backbone."""


@dataclass(frozen=True)
class Preset:
    hub_id: str | None  # None: random weights only (the tiny test architectures)
    sampling_rate: int
    make_config: Callable[[], PreTrainedConfig]


def _mert(hidden: int, layers: int, heads: int, pre_ln: bool) -> HubertConfig:
    return HubertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=4 * hidden, feat_extract_norm="group", conv_bias=False,
                        do_stable_layer_norm=pre_ln, **_CONV)


def _wavlm(hidden: int, layers: int, heads: int, large: bool) -> WavLMConfig:
    return WavLMConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                       intermediate_size=4 * hidden, feat_extract_norm="layer" if large else "group",
                       conv_bias=False, do_stable_layer_norm=large, **_CONV)


def _tiny(config_class, **kwargs) -> PreTrainedConfig:
    # Same architecture, toy width: 2 layers of 32, a 3-layer conv stack (still 320x).
    return config_class(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        conv_dim=(32, 32, 32), conv_stride=(5, 8, 8), conv_kernel=(10, 8, 8),
                        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, conv_bias=False, **kwargs)


PRESETS: dict[str, Preset] = {
    "mert-v1-330m": Preset("m-a-p/MERT-v1-330M", 24000, lambda: _mert(1024, 24, 16, pre_ln=True)),
    "mert-v1-95m": Preset("m-a-p/MERT-v1-95M", 24000, lambda: _mert(768, 12, 12, pre_ln=False)),
    "wavlm-large": Preset("microsoft/wavlm-large", 16000, lambda: _wavlm(1024, 24, 16, large=True)),
    "wavlm-base-plus": Preset("microsoft/wavlm-base-plus", 16000, lambda: _wavlm(768, 12, 12, large=False)),
    "tiny-mert": Preset(None, 24000, lambda: _tiny(HubertConfig, feat_extract_norm="group", do_stable_layer_norm=True)),
    "tiny-wavlm": Preset(None, 16000, lambda: _tiny(WavLMConfig, feat_extract_norm="layer", do_stable_layer_norm=True,
                                                    num_buckets=32, max_bucket_distance=100)),
}

_MODEL_CLASSES = {"hubert": HubertModel, "wavlm": WavLMModel}
_SAMPLING_RATES = {"hubert": 16000, "wavlm": 16000, "mert_model": 24000}


def preset_config(name: str) -> tuple[PreTrainedConfig, int]:
    """The architecture of a preset (no weights) and its sampling rate."""
    preset = PRESETS[name]
    return preset.make_config(), preset.sampling_rate


def backbone_config(config_dict: dict, source: str = "") -> tuple[PreTrainedConfig, int]:
    """A native config for a checkpoint's config.json contents, and its sampling rate."""
    model_type = config_dict.get("model_type")
    values = {key: value for key, value in config_dict.items() if key not in _MERT_ONLY_KEYS}
    if model_type == "mert_model":
        for flag in ("feature_extractor_cqt", "deepnorm"):
            if values.get(flag):
                raise UnsupportedBackbone(f"{source}: MERT with {flag}=true has no native HuBERT equivalent")
        rate = int(values.pop("sample_rate", _SAMPLING_RATES["mert_model"]))
        return HubertConfig(**values), rate
    if model_type in _MODEL_CLASSES:
        config_class = HubertConfig if model_type == "hubert" else WavLMConfig
        return config_class(**values), _SAMPLING_RATES[model_type]
    raise UnsupportedBackbone(
        f"{source}: model_type {model_type!r} is not a supported backbone (MERT-v1, HuBERT or WavLM)")


def portable_name(name_or_path: str) -> str:
    """A name for a model or dataset that means something on another machine.

    Preset names and Hub ids stay as they are. A local folder becomes its Hub id when it
    is a snapshot in the Hugging Face cache (`.../models--user--name/snapshots/<rev>`),
    else the folder's own name: never a path of this machine.
    """
    path = Path(name_or_path)
    if not path.exists():
        return str(name_or_path)
    resolved = path.resolve()
    for part in resolved.parts:
        kind, _, repo = part.partition("--")
        if kind in ("models", "datasets") and repo:
            return repo.replace("--", "/")
    return resolved.name


def load_backbone(name_or_path: str, **overrides):
    """`(backbone, sampling_rate)` from a preset name, a Hub id or a local folder.

    Presets with a Hub id load their pretrained weights; "tiny-*" presets are random.
    `overrides` set backbone config fields. LayerDrop is always 0: in training mode it
    would leave layers out of `hidden_states`.
    """
    overrides = {**overrides, "layerdrop": 0.0}
    preset = PRESETS.get(name_or_path.lower())
    if preset is not None and preset.hub_id is None:
        config, rate = preset_config(name_or_path.lower())
        for key, value in overrides.items():
            setattr(config, key, value)
        return _MODEL_CLASSES[config.model_type](config), rate
    source = preset.hub_id if preset is not None else name_or_path
    config_dict, _ = PreTrainedConfig.get_config_dict(source)  # reads config.json only
    config, rate = backbone_config(config_dict, source)
    for key, value in overrides.items():
        setattr(config, key, value)
    model, info = _MODEL_CLASSES[config.model_type].from_pretrained(source, config=config, output_loading_info=True)
    problems = {kind: keys for kind, keys in info.items() if kind in ("missing_keys", "unexpected_keys") and keys}
    if problems:
        raise UnsupportedBackbone(f"{source}: weights do not fit a {type(model).__name__}: {problems}")
    model.config.name_or_path = portable_name(source)  # saved with the config: never a local path
    return model, rate
