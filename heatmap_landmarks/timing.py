"""Where the time of a run goes: named phases summed while a recording is active (``--timings``).

``with recording() as seconds:`` collects; code marks its phases with
``with phase("forward"):``. Outside a recording, ``phase`` costs one lookup and
records nothing, so the library code can stay marked. A phase inside another
phase counts only for the inner one (the outer's time excludes it), so the
phases add up to the wall time they cover.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import time
from collections import Counter
from typing import Iterator

__all__ = ["PHASES", "phase", "process_seconds", "recording"]

#: The phases the command line reports, in order.
PHASES = ("imports", "model load", "read", "preprocess", "forward", "decode", "write")

_active: contextvars.ContextVar = contextvars.ContextVar("heatmap_landmarks_timing", default=None)


@contextlib.contextmanager
def recording() -> Iterator[Counter]:
    """Collect phase times (seconds) into the yielded Counter while the block runs."""
    state = {"seconds": Counter(), "stack": []}
    token = _active.set(state)
    try:
        yield state["seconds"]
    finally:
        _active.reset(token)


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Time the block as phase ``name`` (nothing happens outside :func:`recording`)."""
    state = _active.get()
    if state is None:
        yield
        return
    stack = state["stack"]
    started = time.perf_counter()
    if stack:  # pause the enclosing phase
        outer, outer_started = stack[-1]
        state["seconds"][outer] += started - outer_started
    stack.append((name, started))
    try:
        yield
    finally:
        now = time.perf_counter()
        state["seconds"][name] += now - stack.pop()[1]
        if stack:
            stack[-1] = (stack[-1][0], now)  # the enclosing phase resumes now


def process_seconds() -> float | None:
    """Wall seconds since this process started (interpreter start-up included), or None where unknown (not Linux)."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
