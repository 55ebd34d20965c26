"""Songs → clean 5 s vocal segments in a `datasets.DatasetDict`, split by album."""

from .config import PreprocessConfig
from .dataset import NothingProcessed, PreprocessResult, preprocess_corpus
from .stages import SongPreprocessor

__all__ = ["NothingProcessed", "PreprocessConfig", "PreprocessResult", "SongPreprocessor", "preprocess_corpus"]
