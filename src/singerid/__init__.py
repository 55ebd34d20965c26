"""singerid: tell which singer is singing, on the Hugging Face stack.

Importing singerid registers SingerClassifier with the Auto classes, so
`pipeline("audio-classification", model=...)` and `AutoModelForAudioClassification`
load saved singer classifiers without `trust_remote_code`. It needs only torch and
transformers: prediction with preprocessing (`predict_songs`) loads the rest on first use.
"""

from transformers import AutoConfig, AutoModel, AutoModelForAudioClassification

from .models import PRESETS, SingerClassifier, SingerClassifierConfig, UnsupportedBackbone
from .pipelines import register as _register_pipeline

__version__ = "0.1.0"

AutoConfig.register(SingerClassifierConfig.model_type, SingerClassifierConfig)
AutoModel.register(SingerClassifierConfig, SingerClassifier)
AutoModelForAudioClassification.register(SingerClassifierConfig, SingerClassifier)
# Saved folders carry the code and an auto_map, for users without singerid.
SingerClassifierConfig.register_for_auto_class()
SingerClassifier.register_for_auto_class("AutoModelForAudioClassification")
_register_pipeline()


def __getattr__(name: str):
    if name == "predict_songs":  # datasets, demucs and the preprocessing stack: only when used
        from .prediction import predict_songs

        return predict_songs
    raise AttributeError(f"module 'singerid' has no attribute {name!r}")


__all__ = ["PRESETS", "SingerClassifier", "SingerClassifierConfig", "UnsupportedBackbone", "predict_songs"]
