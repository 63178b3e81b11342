"""Writing result files safely: all or nothing, and never over the user's files.

The one home of the atomic-write idea for text outputs (CSV, JSON). Image and
checkpoint writers, which write through libraries, use the same pattern
(temporary name in the target folder, then ``os.replace``).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO, Iterator

from .errors import InputError, PathLike, refuse_overwrite


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_text_file(path: PathLike, *, overwrite: bool = False, newline: str | None = None) -> Iterator[IO[str]]:
    """Open a text file for writing that appears at ``path`` only if the block succeeds.

    The data goes to a hidden temporary file in the same folder, moved into
    place with ``os.replace`` on success and deleted on any exception. The
    file gets the permissions a plain ``open()`` would give (umask), not the
    0600 of a temporary file.

    >>> d = tempfile.mkdtemp()
    >>> with atomic_text_file(os.path.join(d, "a.txt")) as f:
    ...     _ = f.write("hello")
    >>> open(os.path.join(d, "a.txt")).read()
    'hello'
    >>> oct(os.stat(os.path.join(d, "a.txt")).st_mode & 0o777) == oct(0o666 & ~_umask())
    True
    """
    path = os.fspath(path)
    refuse_overwrite(path, overwrite)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(path, "output folder does not exist")
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
        refuse_overwrite(path, overwrite)  # someone may have created it meanwhile
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
