"""Suture heatmap training (Yao et al., AdaptOR 2021): config, data sources, augmentation, trainer, evaluation.

``python -m training.sutures.train`` trains; ``python -m training.sutures.evaluate`` evaluates.
"""
