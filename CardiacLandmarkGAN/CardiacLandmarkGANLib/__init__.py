"""Library of the Cardiac Landmark GAN Slicer module.

* :mod:`.logic` -- ``CardiacLandmarkGANLogic``: MRML in, MRML out (no Qt; runs on slicer-core too).
* :mod:`.sampledata` -- synthetic phantom cines for the Sample Data module, generated locally.
* :mod:`.selftest` -- checks shared by the Slicer self-test and pytest.
"""
