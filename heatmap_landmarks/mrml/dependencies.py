"""Python packages the modules need inside 3D Slicer, installed on first use after confirmation.

3D Slicer ships numpy and SimpleITK but not necessarily OpenCV, SciPy,
safetensors or PyTorch. The module Widgets call :func:`ensure_dependencies`
before they create their Logic (never at import time): it lists what is
missing, asks the user once, installs PyTorch through the PyTorch extension's
``PyTorchUtils`` (which picks the build matching the GPU driver) and the rest
with ``slicer.util.pip_install``. Outside the application (slicer-core, CI)
nothing is installed: a missing package is an :class:`InputError` saying
what to ``pip install``.
"""
from __future__ import annotations

import importlib.util
import logging

from ..errors import InputError
from .scene import in_slicer_app

#: import name -> pip requirement (same ranges as pyproject.toml).
PYTHON_REQUIREMENTS = {
    "cv2": "opencv-python-headless>=4.8",
    "scipy": "scipy>=1.10",
    "SimpleITK": "SimpleITK>=2.3",
    "safetensors": "safetensors>=0.4",
    "tqdm": "tqdm>=4.60",
}


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
        pip_names = " ".join((["torch"] if need_torch else []) + [f'"{m}"' for m in missing])
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
        torch = PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False)
        if torch is None:
            raise InputError(None, "PyTorch could not be installed; use the 'PyTorch Utils' module to install it")
    for requirement in missing:
        logging.info("Installing %s", requirement)
        slicer.util.pip_install(requirement)
    importlib.invalidate_caches()
    still = missing_requirements() + ([] if torch_available() else ["torch"])
    if still:
        raise InputError(None, f"could not install {', '.join(still)}; see the Python console for pip's messages")
    return True
