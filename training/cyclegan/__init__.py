"""CycleGAN between simulator and intra-operative frames (Zhu et al. 2017), used to enlarge the suture training set.

``python -m training.cyclegan.train`` trains; ``python -m training.cyclegan.translate`` translates a folder.
"""
