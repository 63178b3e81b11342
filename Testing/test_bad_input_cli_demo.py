"""``heatmap-landmarks demo`` on bad settings and weights files: one table row per case (issue 15).

The demo's only user files are its weights (``--weights-sax``, ``--weights-lax``).
Every row must show (:func:`badinput.assert_refused`) exactly one line
``heatmap-landmarks demo: error: ...`` naming the file or option, no
traceback, and nothing written: no phantom inputs, no results.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from badinput import assert_refused, run_cli, snapshot, write_edited_card


def edited_card(view: str, edit):
    """A copy of the input-copying ``view`` card (``bad_card.json`` beside its weights) changed by ``edit``."""
    def make(d: Path, m) -> list:
        return [f"--weights-{view}", write_edited_card(d / "card", m[view], edit)]
    return make


ROWS = [
    # pytest.param(make(tmp_path, models) -> argv, pattern of the line, names it must hold)
    # item 16: --batch-size 0 was replaced by the default, while -4 was refused
    *[pytest.param(lambda d, m, v=v: ["--batch-size", v], r"--batch-size.*>= 1", ["--batch-size"],
                   id=f"batch-size-{v}") for v in ("0", "-4", "two")],
    # item 8: a card that passed validation and failed with a traceback at use
    pytest.param(edited_card("sax", lambda c: c["decoder"].__setitem__("rotations", "four")),
                 r"decoder\.rotations.*1, 2, 4", ["bad_card.json"], id="card-rotations-text"),
    pytest.param(edited_card("lax", lambda c: c["normalisation"].__setitem__("low", "x")),
                 r"normalisation\.low.*number", ["bad_card.json"], id="card-normalisation-low-text"),
    # weights files that are not there, settings out of range (held before issue 15)
    pytest.param(lambda d, m: ["--weights-sax", d / "nowhere.json"], r"not found|does not exist", ["nowhere.json"],
                 id="weights-missing"),
    pytest.param(lambda d, m: ["--frames", "0"], r"--frames must be >= 1", ["--frames"], id="frames-0"),
    pytest.param(lambda d, m: ["--slices", "1"], r"--slices >= 2", ["--slices"], id="slices-1"),
]


@pytest.mark.parametrize("make, pattern, names", ROWS)
def test_bad_setting_one_line_nothing_written(make, pattern, names, tmp_path, cardiac_models, capfd):
    argv = [os.fspath(a) if isinstance(a, Path) else a for a in make(tmp_path, cardiac_models)]
    for view in ("sax", "lax"):
        if f"--weights-{view}" not in argv:
            argv += [f"--weights-{view}", os.fspath(cardiac_models[view])]
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    result = run_cli(["demo", *argv, "--out", out, "--frames", "2", "--slices", "2", "--quiet"]
                     if "--frames" not in argv and "--slices" not in argv else ["demo", *argv, "--out", out, "--quiet"],
                     capfd)
    assert_refused("demo", *result, pattern=pattern, names=names, before=before, folder=tmp_path, out=out)
