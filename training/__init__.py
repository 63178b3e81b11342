"""Training-side code of heatmap_landmarks: dataset loaders, splits, training loops.

Not part of the installed core package; needs only the core's dependencies.
"""
