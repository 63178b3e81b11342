"""Make the module folder importable (it is not a package): ``import CardiacLandmarkGANLib``."""
import sys
from pathlib import Path

MODULE_DIR = Path(__file__).resolve().parents[2]
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))
