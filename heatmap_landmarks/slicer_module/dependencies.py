"""Python packages the modules need inside 3D Slicer, installed on first use after confirmation.

3D Slicer ships numpy, scipy, SimpleITK and VTK, but not OpenCV, PyTorch,
safetensors or tqdm. The module Widgets call :func:`ensure_dependencies` at
the first Apply (never at import time): it lists what is missing, asks the
user once, installs PyTorch through the PyTorch extension's ``PyTorchUtils``
(which picks the build matching the GPU driver) and the rest with
``slicer.util.pip_install``. The requirements and their ranges come from one
file, ``heatmap_landmarks/requirements.txt`` (the same ranges as
pyproject.toml). Outside the application (slicer-core, CI) nothing is
installed: a missing package is an :class:`InputError` saying what to
``pip install``. :func:`ensure_test_dependencies` is the self-tests' variant
(install without asking, or skip).
"""
from __future__ import annotations

import importlib.util
import logging
import re
import subprocess
from pathlib import Path

from ..errors import InputError
from ..mrml.scene import in_slicer_app

#: The one list of pip requirements (installed with the core package; CMake installs it too).
REQUIREMENTS_FILE = Path(__file__).resolve().parents[1] / "requirements.txt"
#: Distributions whose import name is not their own name.
IMPORT_NAMES = {"opencv-python-headless": "cv2"}
_REQUIREMENT = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*([<>=!~].*)?")


def read_requirements(path=None) -> dict[str, str]:
    """``{import name: pip requirement}`` of a requirements file (default :data:`REQUIREMENTS_FILE`).

    One requirement per line, ``name`` and an optional version range; ``#`` starts a comment.

    >>> reqs = read_requirements()
    >>> reqs["cv2"].startswith("opencv-python-headless>="), reqs["torch"].startswith("torch>=")
    (True, True)
    """
    requirements = {}
    for number, line in enumerate(Path(path or REQUIREMENTS_FILE).read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = _REQUIREMENT.fullmatch(text)
        if match is None:
            raise ValueError(f"{path or REQUIREMENTS_FILE}:{number}: not 'name' or 'name<range>': {text!r}")
        name = match.group(1)
        requirements[IMPORT_NAMES.get(name, name.replace("-", "_"))] = text
    return requirements


def torch_version_requirement(path=None) -> str:
    """The version range of torch, e.g. ``">=2.2"``: what ``PyTorchUtils.installTorch`` appends to "torch"."""
    return _REQUIREMENT.fullmatch(read_requirements(path)["torch"]).group(2) or ""


#: import name -> pip requirement of everything but torch (torch comes through PyTorchUtils).
PYTHON_REQUIREMENTS = {module: req for module, req in read_requirements().items() if module != "torch"}


def missing_requirements(requirements: dict | None = None) -> list[str]:
    """pip requirements whose module cannot be imported (torch not included).

    >>> missing_requirements({"json": "json-is-stdlib"})
    []
    """
    requirements = PYTHON_REQUIREMENTS if requirements is None else requirements
    return [req for module, req in requirements.items() if importlib.util.find_spec(module) is None]


def torch_available() -> bool:
    """True when ``import torch`` would work."""
    return importlib.util.find_spec("torch") is not None


def ensure_dependencies(*, ask: bool = True, purpose: str = "landmark detection") -> bool:
    """Make sure torch and :data:`PYTHON_REQUIREMENTS` can be imported.

    Args:
        ask: show a confirmation dialog before installing (False for self-tests).
        purpose: words for the dialog ("suture detection").

    Returns:
        True when everything is importable; False when the user declined.

    Raises:
        InputError: outside 3D Slicer with packages missing (nothing is
            installed there), or the PyTorch extension is not installed.
    """
    missing = missing_requirements()
    need_torch = not torch_available()
    if not missing and not need_torch:
        return True
    wanted = (["torch (through the PyTorch extension)"] if need_torch else []) + missing
    if not in_slicer_app():
        pip_names = " ".join(f'"{m}"' for m in ([read_requirements()["torch"]] if need_torch else []) + missing)
        raise InputError(None, f"missing Python packages for {purpose}: {', '.join(wanted)}; install them with "
                               f"pip install {pip_names}")
    import slicer

    if ask and not slicer.util.confirmOkCancelDisplay(
            f"{purpose.capitalize()} needs these Python packages, which are not installed yet:\n\n  "
            + "\n  ".join(wanted) + "\n\nInstalling needs a network connection and may take several minutes. "
            "Click OK to install them now.", "Install Python packages"):
        return False
    if need_torch:
        try:
            import PyTorchUtils
        except ImportError:
            raise InputError(None, "PyTorch is needed: install the 'PyTorch' extension from the Extensions Manager, "
                                   "restart 3D Slicer and try again") from None
        torch = PyTorchUtils.PyTorchUtilsLogic().installTorch(
            askConfirmation=False, torchVersionRequirement=torch_version_requirement())
        if torch is None:
            raise InputError(None, "PyTorch could not be installed; use the 'PyTorch Utils' module to install it")
    for requirement in missing:
        logging.info("Installing %s", requirement)
        slicer.util.pip_install([requirement])
    importlib.invalidate_caches()
    still = missing_requirements() + ([] if torch_available() else ["torch"])
    if still:
        raise InputError(None, f"could not install {', '.join(still)}; see the Python console for pip's messages")
    return True


def ensure_test_dependencies(purpose: str) -> None:
    """For a module's self-test case: install what is missing without asking, or skip the case, saying why.

    ctest runs a module's self-test with ``slicer_add_python_unittest``, which
    runs each ``test_*`` method through ``unittest``, never ``runTest`` (where
    the interactive self-test installs). The Test classes call this in
    ``setUpClass``.

    Raises:
        unittest.SkipTest: the packages are missing and cannot be installed
            here (outside Slicer, no PyTorch extension, pip failed).
    """
    import unittest

    try:
        ensure_dependencies(ask=False, purpose=purpose)
    except (InputError, subprocess.CalledProcessError, RuntimeError) as err:
        raise unittest.SkipTest(f"{purpose} needs Python packages that are not installed: {err}") from None
