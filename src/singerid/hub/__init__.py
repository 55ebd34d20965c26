"""Sharing on the Hub: cards rendered from saved folders, and pushes. No stage imports
this package: commands and recipes call it."""

from .cards import render_model_card, write_dataset_card
from .push import DATASET_FILES, MODEL_FILES, HubError, hub_api, push_dataset, push_model

__all__ = ["DATASET_FILES", "MODEL_FILES", "HubError", "hub_api", "push_dataset", "push_model",
           "render_model_card", "write_dataset_card"]
