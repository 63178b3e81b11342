"""DDP really runs: ``torchrun --nproc_per_node=2`` on the CPU (Gloo) for a few steps of both training scripts.

Each run records the sha256 of every rank's final weights (``rank_weight_digests`` in
``summary.json``). Data-parallel training must leave the ranks with identical weights,
batch-norm statistics included, and a run stopped and resumed must end where an
uninterrupted run of the same length ends.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(TORCHRUN is None, reason="torchrun is not installed")]

CARDIAC = {
    "name": "ddp", "seed": 3, "device": "cpu",
    "data": {"input_size": [64, 64], "spacing_mm": 5.6, "val_seeds": "90000:90004"},
    "model": {"generator": {"base_width": 4, "depth": 3, "encoder_convs": 1, "ffe_blocks": 1},
              "discriminator": {"base_width": 4, "max_width": 16, "n_layers": 4, "n_strided": 4}},
    "optim": {"batch_size": 2, "max_steps": 6, "steps_per_epoch": 3, "threads": 1},
    "eval": {"level_grid": [0.5], "min_confidence_grid": [0.1]},
}


def _sutures(out: Path, steps: int) -> dict:
    phantom = {"kind": "phantom", "domain": "intraop", "size": [64, 96], "max_sutures": 4}
    return {"name": "ddp", "out_dir": str(out), "threads": 1,
            "model": {"encoder_widths": [8, 16, 32], "bottleneck_width": 64, "cardinality": 4},
            "train": [{**phantom, "seeds": "0:16"}], "val": [{**phantom, "seeds": "100:102"}],
            "augment": {"crop": [32, 64]}, "batch_size": 2, "max_steps": steps, "val_every": 2,
            "checkpoint_every": 1, "decoder_grid": {"min_confidence": [0.0]},
            "training_data": "synthetic phantom frames only"}


#: A rank aborting in C++ with no Python error, seen a few times in about 40 runs, only on a heavily loaded machine
#: (a training run beside the suite): a gloo teardown race, not a result of the training. A fresh run (``fresh``:
#: its output folder, removed first) that ends so is started once more; any other failure, the same abort twice,
#: or the abort in a resumed run fails the test.
_GLOO_ABORT = "terminate called without an active exception"


def _torchrun(module: str, *args, fresh: Path | None = None) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", module, *args]
    for attempt in range(2 if fresh is not None else 1):
        if attempt:
            warnings.warn(f"torchrun: a rank aborted ({_GLOO_ABORT!r}); the fresh run is started once more")
            shutil.rmtree(fresh, ignore_errors=True)
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
        if done.returncode == 0 or not done.stderr.startswith(_GLOO_ABORT):
            break
    # The ranks' own messages come first and torchrun's report after: show both ends.
    assert done.returncode == 0, done.stderr[:4000] + "\n...\n" + done.stderr[-2000:]


def _digests(run: Path) -> list:
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2
    return summary["rank_weight_digests"]


def test_cardiac_ddp_ranks_agree_and_resume_continues_the_run(tmp_path):
    cfg = tmp_path / "cardiac.json"
    cfg.write_text(json.dumps(CARDIAC))
    common = ["--config", str(cfg), "--no-progress", "--quiet"]
    _torchrun("training.cardiac.train", *common, "--out", str(tmp_path / "a"), "--max-steps", "6", fresh=tmp_path / "a")
    _torchrun("training.cardiac.train", *common, "--out", str(tmp_path / "b"), "--max-steps", "4", fresh=tmp_path / "b")
    _torchrun("training.cardiac.train", *common, "--out", str(tmp_path / "b"), "--max-steps", "6", "--resume")
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert len(a) == 2 and a[0] == a[1]          # both ranks hold the same weights
    assert b == a                                # stopped at 4 and resumed to 6 = 6 in one go
    rows = [json.loads(line) for line in open(tmp_path / "b" / "log.jsonl")]
    assert [r["step"] for r in rows] == [3, 4, 6]


def test_sutures_ddp_ranks_agree_and_resume_continues_the_run(tmp_path):
    for name, steps in (("a", 4), ("b", 3)):  # b stops between two validations
        (tmp_path / f"{name}.json").write_text(json.dumps(_sutures(tmp_path / name, steps)))
    _torchrun("training.sutures.train", "--config", str(tmp_path / "a.json"), "--quiet", fresh=tmp_path / "a")
    _torchrun("training.sutures.train", "--config", str(tmp_path / "b.json"), "--quiet", fresh=tmp_path / "b")
    (tmp_path / "b.json").write_text(json.dumps(_sutures(tmp_path / "b", 4)))
    _torchrun("training.sutures.train", "--config", str(tmp_path / "b.json"), "--resume", "auto", "--quiet")
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert len(a) == 2 and a[0] == a[1]
    assert b == a
