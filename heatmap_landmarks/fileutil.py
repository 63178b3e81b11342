"""Writing result files safely: all or nothing, and never over the user's files.

The one home of the atomic-write idea:

* :func:`atomic_path`: one output file written by any library (OpenCV,
  safetensors, ...) appears at its path only complete.
* :func:`atomic_text_file`: the same for a text output (CSV, JSON) we write ourselves.
* :func:`staged_outputs`: a run's set of files and folders appears together,
  or not at all (the command line's ``--out`` folders).

All of them write to a hidden temporary name in the target folder and
``os.replace`` it into place, which is atomic on one file system.
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterator, Mapping

from .errors import InputError, PathLike, refuse_overwrite


@contextlib.contextmanager
def atomic_path(path: PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """A temporary path to write ``path``'s content to; it becomes ``path`` only if the block succeeds.

    The temporary name sits in the same folder, is hidden, and keeps ``path``'s
    extension (libraries pick the format by it: ``.png``, ``.safetensors``,
    ``.seq.nrrd``). On success it is moved onto ``path`` with ``os.replace``
    (an existing ``path`` is refused unless ``overwrite``, also when it
    appeared meanwhile); on any exception it is deleted. An ``OSError`` while
    writing or moving (full disk, read-only file system, no permission)
    becomes one line naming ``path``, never the temporary name.

    >>> d = Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("hi")
    ...     (tmp.name.startswith("."), tmp.suffix, (d / "a.txt").exists())
    (True, '.txt', False)
    >>> (d / "a.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('hi', ['a.txt'])
    """
    path = Path(path)
    refuse_overwrite(path, overwrite)
    if not path.parent.is_dir():
        raise InputError(path, "output folder does not exist")
    name = path.name
    dot = name.find(".", 1)
    stem, ext = (name, "") if dot < 0 else (name[:dot], name[dot:])
    tmp = path.with_name(f".{stem}.tmp-{os.getpid()}-{secrets.token_hex(4)}{ext}")
    try:
        try:
            yield tmp
            refuse_overwrite(path, overwrite)  # someone may have created it meanwhile
            os.replace(tmp, path)
        except OSError as err:
            raise output_error(path, err) from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


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
    >>> with open(os.path.join(d, "plain.txt"), "w") as f:
    ...     pass
    >>> os.stat(os.path.join(d, "a.txt")).st_mode == os.stat(os.path.join(d, "plain.txt")).st_mode  # as open() makes
    True
    """
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "w", encoding="utf-8", newline=newline) as handle:
            yield handle


#: ``errno`` values of an output folder that cannot take the results, with what the user is told.
_OUTPUT_PROBLEMS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted (an immutable or protected folder?)",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a file is in the way",
    errno.ENAMETOOLONG: "a file name is too long",
}


def output_error(out: PathLike, err: OSError) -> InputError:
    """The one-line error for an output folder ``out`` that failed with ``err`` (names ``out``, never a temp path)."""
    why = _OUTPUT_PROBLEMS.get(err.errno) or (err.strerror or type(err).__name__).lower()
    return InputError(out, f"cannot write the results here: {why}")


def no_space_left(folder: PathLike) -> bool:
    """Whether the file system of ``folder`` is full (libraries such as SimpleITK report it without an errno)."""
    try:
        return os.statvfs(folder).f_bavail == 0
    except (OSError, AttributeError):  # no statvfs on Windows
        return False


#: What a library's failed write says when :func:`no_space_left`.
NO_SPACE = _OUTPUT_PROBLEMS[errno.ENOSPC]


def _make_folder(out: Path) -> list[Path]:
    """Create ``out`` (and missing parents); returns the folders this call created, ``out`` first."""
    if out.exists() and not out.is_dir():
        raise InputError(out, "is a file; the output must be a folder")
    created = []
    folder = out
    while not os.path.lexists(folder) and folder != folder.parent:
        created.append(folder)
        folder = folder.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise output_error(out, err) from None
    return created


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove the folders a failed run created, deepest first, as long as they are empty (another run's may not be)."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def _folder_lock(folder: Path):
    """Hold an exclusive lock on ``folder`` (POSIX ``flock`` on the folder itself; no lock file is left)."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; the existence checks still refuse most races
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def staged_outputs(out: PathLike, names: Mapping[str, str], *, overwrite: bool = False,
                   prefix: str = ".partial-") -> Iterator[tuple[Path, dict]]:
    """All-or-nothing publishing of a run's files and folders into the folder ``out``.

    Yields ``(staging, published)``: write the entries named in ``names``
    (kind -> file or folder name, relative to ``out``) into the hidden folder
    ``staging`` inside ``out``. When the block ends without an exception, every
    entry that exists there replaces ``out/<name>`` and is recorded in
    ``published`` (kind -> final path). A folder entry replaces the old folder
    as a whole, so nothing of an earlier, longer run stays behind. Without
    ``overwrite`` an existing entry is refused (also one that another run
    published meanwhile); with it, the old entry is removed. The staging folder
    is removed in every case, so a failure leaves nothing partial (nor the
    folders ``out`` and its parents if this call made them and they stayed empty), and an
    ``OSError`` of the folder (full disk, read-only, no permission) becomes one
    line naming ``out``.

    >>> d = Path(tempfile.mkdtemp())
    >>> with staged_outputs(d, {"table": "a.csv", "labels": "labels"}) as (staging, published):
    ...     _ = (staging / "a.csv").write_text("x")
    ...     (staging / "labels").mkdir(); _ = (staging / "labels" / "1.json").write_text("{}")
    >>> sorted(p.name for p in d.iterdir()), sorted(published)
    (['a.csv', 'labels'], ['labels', 'table'])
    """
    out = Path(out)
    created = _make_folder(out)
    try:
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=out))
    except OSError as err:
        _remove_if_empty(created)
        raise output_error(out, err) from None
    published: dict = {}
    try:
        try:
            yield staging, published
        except OSError as err:
            raise output_error(out, err) from None
        except InputError as err:  # a writer (SimpleITK, ...) refused a file in the staging folder
            if err.source is not None and Path(err.source).is_relative_to(staging):
                raise InputError(out, f"cannot write the results here: {err.problem}") from None
            raise
        present = {kind: name for kind, name in names.items() if os.path.lexists(staging / name)}
        # One run publishes at a time, so two runs into one folder never mix their entries.
        with _folder_lock(out):
            if not overwrite:
                for name in present.values():
                    refuse_overwrite(out / name, overwrite)  # another run may have published meanwhile
            try:
                for kind, name in present.items():
                    target = out / name
                    if os.path.lexists(target):
                        os.replace(target, staging / f".old-{kind}")  # out of the way, so the new entry lands whole
                    os.replace(staging / name, target)
                    published[kind] = target
            except OSError as err:
                raise output_error(out, err) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not published:  # a run that failed or was interrupted leaves no folder it made, either
            _remove_if_empty(created)
