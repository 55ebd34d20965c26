"""The models singerid trains: one folder per model, each closed under its own imports."""

from .singer.backbones import PRESETS, UnsupportedBackbone, load_backbone, portable_name
from .singer.configuration_singer import STRATEGIES, SingerClassifierConfig
from .singer.modeling_singer import SingerClassifier, SingerDataParallel

__all__ = ["PRESETS", "STRATEGIES", "SingerClassifier", "SingerClassifierConfig", "SingerDataParallel",
           "UnsupportedBackbone", "load_backbone", "portable_name"]
