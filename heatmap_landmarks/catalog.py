"""The model catalogue: which shipped weights exist, in one JSON file.

``heatmap_landmarks/weights/catalog.json`` maps a key (``cardiac_sax``,
``cardiac_lax``, ``sutures``) to a model card beside it. A user's own weights
are passed as a path to their ``.json`` card or ``.safetensors`` file instead.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import InputError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
CATALOG_FILE = WEIGHTS_DIR / "catalog.json"


def load_catalog() -> dict:
    """The catalogue as ``{key: {"card": file name, "title", "task", "view"}}``.

    >>> sorted(load_catalog())
    ['cardiac_lax', 'cardiac_sax', 'cardiac_sax_phantom', 'sutures', 'sutures_phantom']
    """
    with open(CATALOG_FILE, encoding="utf-8") as f:
        return json.load(f)


def default_weights_key(task: str, view: str | None = None) -> str:
    """Catalogue key for a task and view.

    >>> default_weights_key("cardiac", "lax"), default_weights_key("sutures")
    ('cardiac_lax', 'sutures')
    """
    for key, entry in load_catalog().items():
        if entry["task"] == task and (entry["view"] == view or task != "cardiac"):
            return key
    raise InputError(None, f"no shipped weights for task '{task}' view '{view}'")


def resolve_weights(weights: str | os.PathLike) -> Path:
    """A catalogue key or a path -> an existing model-card or weights path."""
    text = os.fspath(weights)
    catalog = load_catalog()
    if text in catalog:
        path = WEIGHTS_DIR / catalog[text]["card"]
        if not path.exists():
            raise InputError(path, f"shipped weights '{text}' are missing from this installation")
        return path
    path = Path(text).expanduser()
    if not path.exists():
        raise InputError(path, f"weights file not found (known shipped weights: {', '.join(sorted(catalog))})")
    if path.suffix not in (".json", ".safetensors"):
        raise InputError(path, "weights must be a model card (.json) or a .safetensors file with its card beside it")
    return path
