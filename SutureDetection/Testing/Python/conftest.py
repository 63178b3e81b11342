"""Make ``SutureDetectionLib`` importable for the Logic tests (as 3D Slicer does for the module)."""
import os
import sys

MODULE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir))
if MODULE_DIR not in sys.path:
    sys.path.insert(0, MODULE_DIR)
