"""Speed and memory of the cardiac pipeline (issue 4's targets). Not a test.

    python Testing/benchmarks/bench_cardiac.py [--weights cardiac_sax] [--repeats 7] [--device cpu]

Measures, on this machine, and prints a Markdown table for the README:

* model latency per frame for a 30-frame 256x256 cine (forward only, in batches of
  ``--batch-size``, the CLI's default 8), median of repeats;
* inference + post-processing for the same cine through ``CardiacPredictor`` (what the
  target "<= 1.5 s on 2 cores" is about), median of repeats, with the card's own
  test-time rotations and, in the same run, with 1, 2 and 4 rotations;
* end-to-end CLI wall time (``heatmap-landmarks cardiac`` in a fresh process,
  imports and file writing included) on a 30-frame NIfTI cine, with its ``--timings`` breakdown (start-up,
  imports, model load, read, preprocess, forward, decode, write) recorded in the results;
* peak resident memory of ``CardiacPredictor`` over a 30-frame x 12-slice cine, in a
  fresh process (``ru_maxrss``), streaming one 12-slice volume at a time;
* FLOPs per frame and the achieved GFLOP/s, as a fraction of the dense 3x3
  conv throughput measured on the same machine in the same run.

These machines are noisy: every timing is a median, and ratios come from the
same run.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up (oneDNN primitive creation, allocator)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def conv_throughput_gflops(torch, device, repeats: int) -> float:
    """Dense 3x3 conv, 64->64 channels on 8x64x128x128, channels-last: a ceiling for our U-Net's convs."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False).to(device).eval().to(memory_format=torch.channels_last)
    x = torch.randn(8, 64, 128, 128, device=device).contiguous(memory_format=torch.channels_last)
    flops = 2 * 8 * 64 * 64 * 9 * 128 * 128

    def run():
        with torch.inference_mode():
            conv(x)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return flops / median_time(run, repeats) / 1e9


def phantom_cine(n_frames: int, n_slices: int, seed: int = 7):
    from heatmap_landmarks.phantoms import make_cardiac_cine

    return make_cardiac_cine(seed, view="sax", n_frames=n_frames, n_slices=n_slices, size=(256, 256))


MEMORY_PROBE = r"""
import resource, sys, numpy as np, torch
torch.set_num_threads(int(sys.argv[3]))
from heatmap_landmarks.cardiac import CardiacPredictor
from heatmap_landmarks.phantoms import make_cardiac_cine
cine = make_cardiac_cine(11, view="sax", n_frames=30, n_slices=12, size=(256, 256))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
p = CardiacPredictor(sys.argv[1], device=sys.argv[2], batch_size=12)
for t in range(cine.frames.shape[0]):  # one 12-slice volume at a time, as the Logic streams a cine
    pred = p.predict_cardiac(cine.frames[t], cine.spacing[:2])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before / 1024.0, peak / 1024.0, cine.frames.nbytes / 2**20)
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="cardiac_sax")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=8, help="frames per forward pass (the CLI's default: 8)")
    parser.add_argument("--json", default=None, help="also write the numbers here")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from heatmap_landmarks.inference import select_device
    from heatmap_landmarks.cardiac import CardiacPredictor
    from heatmap_landmarks.io import write_image
    from heatmap_landmarks.models import estimate_flops

    device = select_device(args.device)
    predictor = CardiacPredictor(args.weights, device=args.device, batch_size=args.batch_size)
    cine = phantom_cine(30, 1)
    frames = cine.frames[:, 0]  # (30, 256, 256)
    spacing = cine.spacing[:2]
    h, w = predictor.card.input_size
    flops = estimate_flops(predictor.model, (1, 1, h, w))

    from heatmap_landmarks.preprocess import prepare_cardiac

    net, _ = prepare_cardiac(frames, spacing, target_spacing_mm=predictor.card.input_spacing_mm, size=(h, w))
    batch = net[:, None]

    def forward():
        for start in range(0, len(batch), args.batch_size):
            predictor.forward(batch[start:start + args.batch_size])
        if device.type == "cuda":
            torch.cuda.synchronize()

    t_forward = median_time(forward, args.repeats)
    t_pipeline = median_time(lambda: predictor.predict_cardiac(frames, spacing), args.repeats)
    t_rotations = {}
    for r in (1, 2, 4):
        rotated = CardiacPredictor(args.weights, device=args.device, batch_size=args.batch_size, rotations=r)
        t_rotations[r] = median_time(lambda: rotated.predict_cardiac(frames, spacing), args.repeats)
    conv_gflops = conv_throughput_gflops(torch, device, args.repeats)
    achieved = flops * 30 / t_forward / 1e9

    with tempfile.TemporaryDirectory() as tmp:
        from heatmap_landmarks.geometry import Geometry

        path = Path(tmp) / "cine.nii.gz"
        write_image(path, frames, Geometry(spacing=cine.spacing), kind="2d+t")
        cli_times, cli_phases = [], []
        for i in range(3):
            t0 = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "heatmap_landmarks.cli", "cardiac", str(path), "--view", "sax",
                                   "--out", str(Path(tmp) / f"out{i}"), "--device", args.device, "--quiet",
                                   "--timings", "--weights", str(predictor.weights_path)],
                                  check=True, cwd=ROOT, capture_output=True, text=True,
                                  env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
            cli_times.append(time.perf_counter() - t0)
            line = next(l for l in done.stderr.splitlines() if l.startswith("timings: "))
            cli_phases.append({k.strip(): float(v) for k, v in re.findall(r"([a-z -]+?) ([0-9.]+) s", line[9:])})
        t_cli = statistics.median(cli_times)
        phases = {k: statistics.median(p.get(k, 0.0) for p in cli_phases) for k in cli_phases[0]}

    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(predictor.weights_path), args.device,
                            str(args.threads)], check=True, capture_output=True, text=True, cwd=ROOT)
    rss_before, rss_peak, cine_mb = (float(v) for v in probe.stdout.split()[-3:])

    results = {
        "device": str(device), "threads": args.threads, "torch": torch.__version__,
        "params": sum(p.numel() for p in predictor.model.parameters()),
        "gflops_per_frame": flops / 1e9,
        "forward_ms_per_frame": 1e3 * t_forward / 30,
        "pipeline_s_30_frames": t_pipeline, "card_rotations": predictor.rotations,
        "pipeline_s_30_frames_by_rotations": t_rotations,
        "cli_end_to_end_s_30_frames": t_cli,
        "cli_breakdown_s_median": phases,  # heatmap-landmarks --timings: imports, reading, preprocessing, ...
        "achieved_gflops": achieved, "conv_ceiling_gflops": conv_gflops,
        "fraction_of_conv_ceiling": achieved / conv_gflops,
        "peak_rss_mb_30x12": rss_peak, "rss_after_data_mb": rss_before, "cine_float32_mb": cine_mb,
    }
    print(f"| device | {results['device']} ({args.threads} threads), torch {torch.__version__} |")
    print("|---|---|")
    print(f"| parameters | {results['params']:,} |")
    print(f"| FLOPs per 256x256 frame | {results['gflops_per_frame']:.2f} GFLOP |")
    print(f"| model forward, per frame (batch {args.batch_size}, median of {args.repeats}) | {results['forward_ms_per_frame']:.1f} ms |")
    print(f"| inference + post-processing, 30-frame cine, card's {predictor.rotations} rotation(s) (median of {args.repeats}) | {t_pipeline:.2f} s |")
    print("| same, with 1 / 2 / 4 test-time rotations (same run) | "
          + " / ".join(f"{t_rotations[r]:.2f}" for r in (1, 2, 4)) + " s |")
    print(f"| CLI end to end, 30-frame NIfTI cine, fresh process (median of 3) | {t_cli:.2f} s |")
    breakdown = results["cli_breakdown_s_median"]
    print("| same, `--timings` breakdown (medians) | "
          + ", ".join(f"{k} {v:.2f} s" for k, v in breakdown.items()) + " |")
    print(f"| achieved / dense-conv ceiling | {achieved:.1f} / {conv_gflops:.1f} GFLOP/s = {100 * achieved / conv_gflops:.0f} % |")
    print(f"| peak RSS, 30 frames x 12 slices streamed per volume | {rss_peak:.0f} MB (data alone {cine_mb:.0f} MB) |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
