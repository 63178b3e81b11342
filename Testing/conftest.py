"""Shared by the tests in Testing/: this folder on ``sys.path`` (for ``import badinput``), the hand-set models the
bad-input tables run, and the real read-only / full file systems they write into."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def cardiac_models(tmp_path_factory):
    """``{"sax": card, "lax": card}``: input-copying cardiac checkpoints (heatmap_landmarks.testing)."""
    import torch

    from heatmap_landmarks.testing import save_identity_checkpoint

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("identity_models")
    return {view: save_identity_checkpoint(folder, view) for view in ("sax", "lax")}


@pytest.fixture(scope="session")
def spot_model(tmp_path_factory):
    """The hand-weighted suture checkpoint (one point per red disc; heatmap_landmarks.testing)."""
    from heatmap_landmarks.testing import make_spot_detector

    return make_spot_detector(tmp_path_factory.mktemp("spot_model"))


def _unshare_works(folder: Path) -> str:
    """'' when ``unshare -rm`` may mount a tmpfs here, else why not."""
    if shutil.which("unshare") is None:
        return "no unshare command (util-linux) on this machine"
    try:
        result = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o ro tmpfs {shlex.quote(str(folder))}"
                                 f" && ! touch {shlex.quote(str(folder / 'x'))} 2>/dev/null"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unshare failed: {err}"
    if result.returncode != 0:
        return f"unshare -rm cannot mount a tmpfs here (user namespaces off?): {result.stderr.strip()[:200]}"
    return ""


@pytest.fixture(scope="session")
def mounted_tmpfs(tmp_path_factory):
    """``wrap(folder, options, listing)``: puts a command inside ``unshare -rm`` with a fresh tmpfs mounted on
    ``folder`` (``options``: ``ro``, or ``size=16k`` for a disk that fills up). The mount lives as long as the
    command; ``ls -A -R folder`` is written to the file ``listing`` (outside the mount) when the command ends, so a
    test can see what was left. Skips when this machine does not allow it (probed once)."""
    why = _unshare_works(tmp_path_factory.mktemp("unshare_probe"))
    if why:
        pytest.skip(why)

    def wrap(folder: Path, options: str, listing: Path):
        def command(argv):
            inner = " ".join(shlex.quote(os.fsdecode(a)) for a in argv)
            f = shlex.quote(str(folder))
            return ["unshare", "-rm", "sh", "-c",
                    f"mount -t tmpfs -o {options} tmpfs {f} || exit 99; {inner}; rc=$?; "
                    f"ls -A -R {f} > {shlex.quote(str(listing))}; exit $rc"]
        return command
    return wrap


@pytest.fixture()
def immutable_folder(tmp_path):
    """An empty folder with the immutable attribute (``chattr +i``: not even root may add to it); removed after."""
    folder = tmp_path / "immutable"
    folder.mkdir()
    try:
        result = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True, timeout=30)
    except OSError as err:
        pytest.skip(f"chattr cannot run here: {err}")
    if result.returncode != 0:
        pytest.skip(f"chattr +i is not permitted here: {result.stderr.strip()[:200]}")
    yield folder
    subprocess.run(["chattr", "-i", str(folder)], check=True, timeout=30)
