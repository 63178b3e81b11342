"""Errors raised by the core.

Every error a user can cause by handing us a bad file or bad settings is an
:class:`InputError`: one line, naming the file (or setting) and what is wrong.
The CLI prints ``str(err)`` and exits non-zero; Slicer shows it in the error
display. Programming errors stay ordinary exceptions with tracebacks.
"""
from __future__ import annotations

import os
from typing import Union

PathLike = Union[str, os.PathLike]


class HeatmapLandmarksError(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(HeatmapLandmarksError, ValueError):
    """A user-facing, one-line error about an input file or setting.

    >>> str(InputError("scan.nii.gz", "image contains NaN values"))
    'scan.nii.gz: image contains NaN values'
    """

    def __init__(self, source: PathLike | None, problem: str):
        self.source = None if source is None else os.fspath(source)
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(self.problem if self.source is None else f"{self.source}: {self.problem}")


class CheckpointError(InputError):
    """Weights or model card that cannot be used (wrong architecture, bad sha256, ...)."""


class OutputExistsError(InputError):
    """Refusing to overwrite an existing output the user did not ask us to replace."""


def refuse_overwrite(path: PathLike, overwrite: bool) -> None:
    """Raise :class:`OutputExistsError` when ``path`` exists and ``overwrite`` is False."""
    if not overwrite and os.path.lexists(path):
        raise OutputExistsError(path, "already exists; pass overwrite=True (CLI: --overwrite) to replace it")
