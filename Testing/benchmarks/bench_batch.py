"""Where a user waits: one real-shaped cine in a fresh process, and a batch of stacks in one process. Not a test.

    python Testing/benchmarks/bench_batch.py [--stacks 50] [--repeats 3] [--acdc ../shared/realdata/acdc]
                                             [--cine ../shared/realdata/mnms2/001/001_LA_CINE.nii.gz] [--out DIR]

Measures, with ``heatmap-landmarks ... --timings`` in fresh processes on this machine:

* one real 4-chamber cine (M&Ms-2 patient 001, 25 frames of 256x256; or any ``--cine``): wall time end to
  end and its breakdown (start-up, imports, model load, read, preprocess, forward, decode, write), medians of
  ``--repeats`` runs;
* a batch of ``--stacks`` real short-axis stacks (ACDC end-diastole, about 10 slices each) in one process: wall
  time, seconds per stack amortised, and the process's peak resident memory (``ru_maxrss`` of the child);
  the same batch's first stack alone gives the per-run cost it replaces.

Without the real data the script says so and stops. These machines are noisy: report medians, and compare
numbers measured in the same run only.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REALDATA = ROOT.parent / "shared" / "realdata"
CLI = [sys.executable, "-m", "heatmap_landmarks.cli"]


# A wrapper process per run, so that ru_maxrss of its children is the peak of that one run only.
_WRAP = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
         "print('peak_rss_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")


def timed_run(args: list[str]) -> tuple[float, dict, float]:
    """``(wall seconds, {phase: seconds}, peak RSS MB)`` of one fresh CLI process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _WRAP, *CLI, *args, "--timings", "--quiet", "--overwrite"],
                          cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 2):
        raise SystemExit(f"the command failed: {done.stderr[-2000:]}")
    line = next(l for l in done.stderr.splitlines() if l.startswith("timings: "))
    phases = {name.strip(): float(value) for name, value in re.findall(r"([a-z -]+?) ([0-9.]+) s", line[9:])}
    peak_kb = int(done.stdout.strip().splitlines()[-1].split()[-1])
    return wall, phases, peak_kb / 1024.0


def median_phases(runs: list[dict]) -> dict:
    keys = [k for k in runs[0]]
    return {k: statistics.median(r.get(k, 0.0) for r in runs) for k in keys}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stacks", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--acdc", default=os.fspath(REALDATA / "acdc"))
    p.add_argument("--cine", default=os.fspath(REALDATA / "mnms2" / "001" / "001_LA_CINE.nii.gz"))
    p.add_argument("--out", default=None, help="folder for the outputs (default: a temporary one)")
    args = p.parse_args(argv)
    stacks = sorted(Path(args.acdc).glob("training/patient*/patient*_frame01.nii.gz"))[:args.stacks]
    if not Path(args.cine).is_file() or not stacks:
        print(f"needs the real data: {args.cine} and ACDC stacks under {args.acdc}")
        return 1
    out = Path(args.out or tempfile.mkdtemp(prefix="bench_batch_"))
    cine_runs = [timed_run(["cardiac", args.cine, "--view", "lax", "--out", os.fspath(out / "cine")])
                 for _ in range(args.repeats)]
    cine_wall = statistics.median(r[0] for r in cine_runs)
    cine_phases = median_phases([r[1] for r in cine_runs])
    one_wall, one_phases, _ = timed_run(["cardiac", os.fspath(stacks[0]), "--view", "sax",
                                         "--out", os.fspath(out / "one")])
    listing = out / "stacks.txt"
    listing.write_text("".join(f"{s}\n" for s in stacks))
    batch_wall, batch_phases, batch_rss = timed_run(["cardiac", f"@{listing}", "--view", "sax",
                                                     "--out", os.fspath(out / "batch")])
    result = {
        "cpu_threads": os.cpu_count(), "load_average": os.getloadavg(),
        "cine": {"input": args.cine, "runs": len(cine_runs), "wall_s_median": cine_wall, "phases_median": cine_phases},
        "one_stack": {"input": os.fspath(stacks[0]), "wall_s": one_wall, "phases": one_phases},
        "batch": {"stacks": len(stacks), "wall_s": batch_wall, "s_per_stack": batch_wall / len(stacks),
                  "phases": batch_phases, "peak_rss_mb": batch_rss},
    }
    (out / "bench_batch.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    phase_names = [k for k in cine_phases if k != "total"]
    print("\n| step | real 25-frame 4-chamber cine, fresh process (median of %d) |" % len(cine_runs))
    print("|---|---|")
    for k in phase_names:
        print(f"| {k} | {cine_phases[k]:.2f} s |")
    print(f"| **wall, end to end** | **{cine_wall:.2f} s** |")
    print(f"\nBatch of {len(stacks)} ACDC stacks in one process: {batch_wall:.1f} s, "
          f"{batch_wall / len(stacks):.2f} s per stack (one stack alone: {one_wall:.2f} s); "
          f"peak RSS {batch_rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
