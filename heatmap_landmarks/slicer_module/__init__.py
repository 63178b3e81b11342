"""The kit both Slicer module panels are built from (CardiacLandmarkGAN, SutureDetection).

Not node <-> array conversion (that is :mod:`heatmap_landmarks.mrml`) but what
a scripted module's Widget and Logic share:

* :mod:`.widget` -- ``HeatmapModuleWidgetMixin``: parameter-node lifecycle,
  Apply-becomes-Cancel runs with a progress bar, the lazy CUDA check, path fields;
* :mod:`.logic` -- the Logic base class (``logic_base_class``: Slicer's
  ``ScriptedLoadableModuleLogic``, or a headless stand-in on slicer-core),
  ``Progress``, ``CancelWhenGone`` and ``SceneTransaction``;
* :mod:`.dependencies` -- installing the Python packages a stock 3D Slicer
  lacks (``ensure_dependencies``), on first use.

Like :mod:`heatmap_landmarks.mrml` these import ``slicer``/``vtk`` (so the
core's layering test leaves them out) but never qt, ctk, torch, cv2,
safetensors or tqdm at the top: Slicer imports them when it starts, before
anything can be installed, and slicer-core (CI) has no Qt. This package
imports none of its modules itself; import the one you need.
"""
