"""Songs → clean 5 s vocal segments in a `datasets.DatasetDict`, split by album."""

from importlib import import_module

from .config import PreprocessConfig

# Imported on first use: the dataset writer needs datasets and the stages soundfile, which a
# submodule alone (the separator, on a bare GPU box) does not.
_LAZY = {"NothingProcessed": "dataset", "PreprocessResult": "dataset", "preprocess_corpus": "dataset",
         "SongPreprocessor": "stages"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["NothingProcessed", "PreprocessConfig", "PreprocessResult", "SongPreprocessor", "preprocess_corpus"]
