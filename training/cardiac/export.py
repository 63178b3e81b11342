"""Copy a trained cardiac model (card + weights) to where it ships, e.g. ``heatmap_landmarks/weights/cardiac_sax``."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from heatmap_landmarks.checkpoint import load_checkpoint, save_checkpoint

__all__ = ["export_model"]


def export_model(source: str | os.PathLike, target: str, overwrite: bool, name: str | None = None,
                 note: str | None = None) -> tuple[Path, Path]:
    """Copy a trained model (card + weights) to ``target`` (a stem such as ``heatmap_landmarks/weights/cardiac_sax``).

    ``source``: a run folder (its ``model.json``) or a model card such as ``<run>/model_last.json``.
    ``name`` renames the model in its card (e.g. ``"cardiac-sax-demo"`` for the shipped weights);
    ``note`` is appended to the card's notes (e.g. how this checkpoint was chosen).
    """
    source = Path(source)
    model, card = load_checkpoint(source / "model.json" if source.is_dir() else source)
    notes = f"{card.notes} {note}".strip() if note else card.notes
    card = dataclasses.replace(card, sha256="", weights_file="", name=name or card.name, notes=notes)
    return save_checkpoint(model, card, target, overwrite=overwrite)
