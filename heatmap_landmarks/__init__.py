"""heatmap_landmarks: heatmap-regression landmark detection for cardiac MR and endoscopy.

The core imports only numpy, scipy, OpenCV, SimpleITK and torch (torch lazily,
where a model is needed). The one exception is :mod:`heatmap_landmarks.mrml`,
which bridges arrays and 3D Slicer MRML nodes and imports ``slicer``.
"""
from .errors import CheckpointError, HeatmapLandmarksError, InputError, OutputExistsError
from .geometry import Geometry

__version__ = "0.2.0"

__all__ = ["CheckpointError", "Geometry", "HeatmapLandmarksError", "InputError", "OutputExistsError", "__version__"]
