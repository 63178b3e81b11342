"""``python -m heatmap_landmarks.cli``: the same as the ``heatmap-landmarks`` command."""
import sys

from . import main

sys.exit(main())
