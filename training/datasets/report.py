"""What a dataset iteration loaded, skipped and noticed.

Training never drops data silently: every ``iter_*_dataset`` function records
each skipped study/patient/frame here with the reason, and logs a summary.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SkippedItem:
    """One skipped unit: ``source`` (a path), a short ``category`` and the full ``reason``."""

    source: str
    category: str
    reason: str


@dataclass
class DatasetReport:
    """Counts of loaded units, skipped units (with reasons) and notes.

    >>> r = DatasetReport("demo")
    >>> r.add_loaded("image", 3)
    >>> r.skip("a/b.png", "image without label", "a/b.png: no point_labels/b.json")
    >>> r.skip_counts["image without label"], r.loaded["image"]
    (1, 3)
    >>> print(r.summary())
    demo: loaded 3 image; skipped 1 (image without label: 1)
    """

    name: str
    loaded: Counter = field(default_factory=Counter)
    skipped: list = field(default_factory=list)
    notes: Counter = field(default_factory=Counter)

    def add_loaded(self, unit: str, n: int = 1) -> None:
        self.loaded[unit] += n

    def skip(self, source, category: str, reason: str) -> None:
        item = SkippedItem(str(source), category, " ".join(str(reason).split()))
        self.skipped.append(item)
        log.warning("%s: skipped %s", self.name, item.reason)

    def note(self, what: str, n: int = 1) -> None:
        """Count something worth knowing that did not cause a skip (e.g. points mapped through RAS)."""
        self.notes[what] += n

    @property
    def skip_counts(self) -> Counter:
        return Counter(item.category for item in self.skipped)

    def summary(self) -> str:
        loaded = ", ".join(f"{n} {unit}" for unit, n in sorted(self.loaded.items())) or "nothing"
        text = f"{self.name}: loaded {loaded}; skipped {len(self.skipped)}"
        if self.skipped:
            text += " (" + ", ".join(f"{c}: {n}" for c, n in sorted(self.skip_counts.items())) + ")"
        if self.notes:
            text += "; notes: " + ", ".join(f"{w}: {n}" for w, n in sorted(self.notes.items()))
        return text
