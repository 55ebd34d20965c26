"""The audio-classification pipeline, resampling with scipy instead of torchaudio.

transformers resamples a `{"raw"/"array": ..., "sampling_rate": ...}` input at another
rate with torchaudio, which CPU installs must not have. Importing singerid registers
this subclass for the task; it resamples such inputs itself and is otherwise the
standard pipeline.
"""

from __future__ import annotations

import numpy as np
from transformers import AudioClassificationPipeline, AutoModelForAudioClassification
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.utils import logging

from .audio import resample


class ResamplingAudioClassificationPipeline(AudioClassificationPipeline):
    def preprocess(self, inputs):
        target = self.feature_extractor.sampling_rate
        if isinstance(inputs, dict) and inputs.get("sampling_rate", target) != target:
            key = "raw" if "raw" in inputs else "array"
            wave = np.asarray(inputs[key], dtype=np.float32)
            inputs = {**inputs, key: resample(wave, int(inputs["sampling_rate"]), target), "sampling_rate": target}
        return super().preprocess(inputs)


def register() -> None:
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # replacing a built-in task is intended here
    try:
        default = PIPELINE_REGISTRY.supported_tasks["audio-classification"].get("default")
        PIPELINE_REGISTRY.register_pipeline("audio-classification", ResamplingAudioClassificationPipeline,
                                            pt_model=AutoModelForAudioClassification, default=default, type="audio")
    finally:
        logging.set_verbosity(verbosity)
