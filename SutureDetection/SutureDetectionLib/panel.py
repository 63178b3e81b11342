"""What the Suture Detection panel shows, decided without Qt (so that CI can test it on slicer-core).

The Widget applies these decisions in its update method, which runs every
time the parameter node changes and when a parameter node is first shown.
The .ui's own signal connections cannot do it: a check box bound to the
parameter node is set without a ``toggled`` signal when its value does not
change (``QCheckBoxToBoolConnector.write``), so a field that depends on it
would keep the state of the .ui file when a saved scene starts with the box
already unchecked.
"""
from __future__ import annotations


def enabledFields(useShippedWeights: bool, automaticThreshold: bool) -> dict:
    """``{ui widget name: enabled}`` for the fields that depend on a check box.

    The weights field is used only without the shipped weights, the fixed
    threshold only without the automatic (Otsu) threshold.

    >>> enabledFields(useShippedWeights=True, automaticThreshold=False)
    {'weightsPathLineEdit': False, 'thresholdSliderWidget': True}
    """
    return {"weightsPathLineEdit": not useShippedWeights, "thresholdSliderWidget": not automaticThreshold}
