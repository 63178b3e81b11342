"""Training-side code of heatmap_landmarks: dataset loaders, splits, training loops.

Not part of the installed core package; needs only the core's dependencies.

* :mod:`training.common`: DDP, seeds, AMP, resumable state, run budget, logs;
  :mod:`training.common.config`: the one typed config loader.
* :mod:`training.cardiac`: the cardiac landmark GAN (``python -m training.cardiac.train``).
* :mod:`training.sutures`: the suture heatmap network (``python -m training.sutures.train``).
* :mod:`training.cyclegan`: sim <-> intra-op frame translation (``python -m training.cyclegan.train``).
* :mod:`training.datasets`: STACOM, ACDC and AdaptOR loaders and patient-level splits.
"""
