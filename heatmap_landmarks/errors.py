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

_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text) -> str:
    """``text`` as one printable line: control characters and undecodable bytes escaped.

    A file name may hold a newline, a terminal escape or bytes that are not
    UTF-8 (Python keeps those as lone surrogates, which cannot even be
    printed). They are written as ``\\n``, ``\\x1b``, ``\\xff``, ... so a
    message stays one line that any terminal shows as it is.

    >>> one_line("a\\nb\\x1b[31m.nii")
    'a\\\\nb\\\\x1b[31m.nii'
    >>> one_line("caf\\udce9.png"), one_line("café.png")
    ('caf\\\\xe9.png', 'café.png')
    """
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    text = str(text)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif ch in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


class HeatmapLandmarksError(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(HeatmapLandmarksError, ValueError):
    """A user-facing, one-line error about an input file or setting.

    ``source`` keeps the path as given; the message shows it through
    :func:`one_line`, so a name holding a newline or undecodable bytes cannot
    split or break the line.

    >>> str(InputError("scan.nii.gz", "image contains NaN values"))
    'scan.nii.gz: image contains NaN values'
    >>> str(InputError("two\\nlines.nii", "file or folder does not exist"))
    'two\\\\nlines.nii: file or folder does not exist'
    """

    def __init__(self, source: PathLike | None, problem: str):
        if source is not None:
            source = os.fspath(source)
            if isinstance(source, bytes):
                source = os.fsdecode(source)
        self.source = source
        self.problem = one_line(" ".join(str(problem).split()))  # always one line
        super().__init__(self.problem if self.source is None else f"{one_line(self.source)}: {self.problem}")


class CheckpointError(InputError):
    """Weights or model card that cannot be used (wrong architecture, bad sha256, ...)."""


class OutputExistsError(InputError):
    """Refusing to overwrite an existing output the user did not ask us to replace."""


def refuse_overwrite(path: PathLike, overwrite: bool) -> None:
    """Raise :class:`OutputExistsError` when ``path`` exists and ``overwrite`` is False."""
    if not overwrite and os.path.lexists(path):
        raise OutputExistsError(path, "already exists; pass overwrite=True (CLI: --overwrite) to replace it")
