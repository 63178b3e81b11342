"""``python -m heatmap_landmarks.cli``: the same as the ``heatmap-landmarks`` command."""
import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
