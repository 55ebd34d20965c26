"""singerid: tell which singer is singing, on the Hugging Face stack.

Importing singerid registers SingerClassifier with the Auto classes, so
`pipeline("audio-classification", model=...)` and `AutoModelForAudioClassification`
load saved singer classifiers without `trust_remote_code`.
"""

from transformers import AutoConfig, AutoModel, AutoModelForAudioClassification

from .backbones import PRESETS, UnsupportedBackbone
from .configuration_singer import SingerClassifierConfig
from .modeling_singer import SingerClassifier
from .pipelines import register as _register_pipeline
from .prediction import predict_songs

__version__ = "0.1.0"

AutoConfig.register(SingerClassifierConfig.model_type, SingerClassifierConfig)
AutoModel.register(SingerClassifierConfig, SingerClassifier)
AutoModelForAudioClassification.register(SingerClassifierConfig, SingerClassifier)
# Saved folders carry the code and an auto_map, for users without singerid.
SingerClassifierConfig.register_for_auto_class()
SingerClassifier.register_for_auto_class("AutoModelForAudioClassification")
_register_pipeline()

__all__ = ["PRESETS", "SingerClassifier", "SingerClassifierConfig", "UnsupportedBackbone", "predict_songs"]
