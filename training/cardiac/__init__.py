"""Cardiac landmark GAN training (Kanakatte et al.): config, data, augmentation, trainer, evaluation.

``python -m training.cardiac.train`` trains; ``python -m training.cardiac.evaluate`` evaluates.
"""
