"""Benchmark of suture detection end to end (not a test): speed at 512x288 and memory on a long video.

    python Testing/benchmarks/bench_sutures.py                  # defaults below, prints Markdown tables
    python Testing/benchmarks/bench_sutures.py --stream-frames 0 --frames 32 --repeats 3   # quick

1. Speed. ``--frames`` synthetic endoscopic frames (512 x 288, the phantom
   generator) are written to an MJPG video; the timed pipeline is what the CLI
   and the Slicer module run: decode the video with OpenCV, normalise and pad,
   run the network, decode each heatmap (Otsu, opening, cutting, centroids)
   into points. Frames/s is the median over ``--repeats`` passes after one
   warm-up pass, for every device (CPU, and CUDA when available) and batch
   size. The post-processing share is timed separately on the same heatmaps.
2. Memory. A ``--stream-frames`` long video (default 10,000 frames; a cycle
   of distinct phantom frames, so it is quick to write) goes through the
   CLI's writer (per-frame JSON, CSV, submission JSON, an overlay every 25th
   frame) in a fresh process; its resident memory is sampled as it goes. Flat
   memory means the video is streamed, not loaded.

The model is ``--weights`` if given, else the shipped demo weights, else an
untrained network of the shipped architecture (same cost; its points are
meaningless, which the table says). The long stream uses the tiny hand-weighted
spot detector of :mod:`heatmap_landmarks.testing` by default (``--stream-model
main`` uses the benchmark model): memory flatness is a property of the
streaming, and the tiny model keeps a 10,000-frame run short on a CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZE = (288, 512)  # (H, W)


def rss_mib() -> float:
    """Current resident set size of this process in MiB (Linux /proc; else the peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return peak_rss_mib()


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def phantom_frames(n: int, seed: int = 11) -> list:
    """``n`` RGB uint8 frames of one synthetic video (slow camera drift, 8 sutures)."""
    from heatmap_landmarks.phantoms.endoscopic import make_suture_video

    clip = make_suture_video(seed, n, n_sutures=8, domain="sim", size=SIZE, randomisation="train")
    return [np.round(np.clip(s.image, 0, 1) * 255).astype(np.uint8) for s in clip]


def write_video(path: Path, frames, total: int, fps: float = 25.0) -> Path:
    """Write ``total`` frames cycling through ``frames`` as MJPG (what opencv-headless writes everywhere)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(os.fspath(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    bgr = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in frames]
    for i in range(total):
        writer.write(bgr[i % len(bgr)])
    writer.release()
    return path


def benchmark_model(folder: Path, weights: str | None) -> tuple[str, str]:
    """``(card path, description)``: the user's weights, the shipped ones, or an untrained default network."""
    from heatmap_landmarks.catalog import resolve_weights
    from heatmap_landmarks.errors import InputError

    if weights:
        return os.fspath(resolve_weights(weights)), f"weights {weights}"
    try:
        return os.fspath(resolve_weights("sutures")), "shipped demo weights"
    except InputError:
        pass
    from heatmap_landmarks.checkpoint import ModelCard, save_checkpoint
    from heatmap_landmarks.models import ResNeXtUNet, ResNeXtUNetConfig
    from heatmap_landmarks.preprocess import IMAGENET_MEAN, IMAGENET_STD

    config = ResNeXtUNetConfig()
    card = ModelCard(name="untrained-default", task="sutures", architecture="ResNeXtUNet", config=config.to_dict(),
                     landmark_names=["suture"], heatmap_mode="single", sigma2=5.0, input_size=list(SIZE),
                     normalisation={"method": "mean_std", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
                     decoder={"opening_kernel": 3, "cut": True}, training_data="none (benchmark only)")
    _, path = save_checkpoint(ResNeXtUNet(config).eval(), card, folder / "untrained_default")
    return os.fspath(path), "untrained network of the default architecture (shipped weights absent; speed only)"


def run_pipeline(predictor, video: Path, keep_heatmaps: bool = False):
    """One pass over the video; returns (seconds, frames, points, heatmaps or None)."""
    from heatmap_landmarks.video import open_frames

    start = time.perf_counter()
    frames = points = 0
    heatmaps = [] if keep_heatmaps else None
    for pred in predictor.predict_sutures(open_frames(video).rgb_frames(), return_heatmaps=keep_heatmaps):
        frames += 1
        points += len(pred.points)
        if keep_heatmaps:
            heatmaps.append(pred.heatmap)
    return time.perf_counter() - start, frames, points, heatmaps


def speed_table(card: str, video: Path, devices, batch_sizes, repeats: int) -> list[dict]:
    from heatmap_landmarks.sutures.decode import decode_sutures
    from heatmap_landmarks.sutures import SuturePredictor

    rows = []
    for device in devices:
        for batch in batch_sizes:
            predictor = SuturePredictor(card, device=device, batch_size=batch)
            _, n, _, heatmaps = run_pipeline(predictor, video, keep_heatmaps=True)  # warm-up (and heatmaps to decode)
            times = []
            for _ in range(repeats):
                seconds, n, points, _ = run_pipeline(predictor, video)
                times.append(seconds)
            median = statistics.median(times)
            t0 = time.perf_counter()
            for h in heatmaps:
                decode_sutures(h, **dict(predictor.card.decoder or {}))
            post = (time.perf_counter() - t0) / len(heatmaps)
            rows.append({"device": device, "batch": batch, "frames": n, "fps": n / median,
                         "ms_per_frame": 1000 * median / n, "post_ms": 1000 * post,
                         "spread": (min(times), max(times)), "points_per_frame": points / n})
            print(f"  {device} batch {batch}: {n / median:.2f} frames/s (median of {repeats})", file=sys.stderr)
    return rows


def stream_child(args) -> None:
    """Child process: run the CLI writer over the long video, sampling RSS; prints one JSON line."""
    import torch

    from heatmap_landmarks.cli.sutures import detect_to_folder
    from heatmap_landmarks.sutures import SuturePredictor
    from heatmap_landmarks.video import open_frames

    torch.set_num_threads(args.threads)
    source = open_frames(args.stream_video)
    predictor = SuturePredictor(args.stream_weights, device=args.stream_device, batch_size=args.stream_batch)
    samples = [(0, rss_mib())]  # model loaded, nothing read yet

    class Sampler:
        done = 0

        def update(self, n):
            self.done += n
            if self.done % args.sample_every == 0 or self.done == 1:
                samples.append((self.done, rss_mib()))

    start = time.perf_counter()
    summary = detect_to_folder(source, predictor, Path(args.stream_out), decoder={}, overwrite=True,
                               progress=Sampler())
    seconds = time.perf_counter() - start
    print(json.dumps({"frames": summary["frames"], "points": summary["points"], "overlays": summary["overlays"],
                      "seconds": seconds, "samples": samples, "peak_rss_mib": peak_rss_mib()}))


def stream_table(args, card: str, description: str, work: Path) -> dict:
    frames = phantom_frames(args.stream_cycle, seed=23)
    video = write_video(work / "long_stream.avi", frames, args.stream_frames)
    size_mib = video.stat().st_size / 2**20
    if args.stream_model == "spot":
        from heatmap_landmarks.testing import make_spot_detector

        card, description = os.fspath(make_spot_detector(work)), "tiny hand-weighted spot detector"
    out = work / "stream_out"
    command = [sys.executable, __file__, "--stream-child", "--stream-video", os.fspath(video), "--stream-weights", card,
               "--stream-out", os.fspath(out), "--stream-device", args.stream_device, "--stream-batch",
               str(args.stream_batch), "--threads", str(args.threads), "--sample-every", str(args.sample_every)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode:
        raise RuntimeError(f"stream run failed:\n{result.stderr[-3000:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    data.update(video_mib=size_mib, model=description, decoded_mib=args.stream_frames * SIZE[0] * SIZE[1] * 3 / 2**20)
    shutil.rmtree(out, ignore_errors=True)
    return data


def markdown(rows, stream, description, args) -> str:
    import torch

    lines = [f"Suture detection benchmark — {SIZE[1]}x{SIZE[0]} RGB frames, {platform.processor() or platform.machine()}, "
             f"torch {torch.__version__} ({args.threads} CPU thread(s)); model: {description}.", ""]
    if rows:
        lines += ["| device | batch | frames/s (median) | ms/frame | of which post-processing ms | "
                  "min–max s per pass | points/frame |",
                  "|---|---:|---:|---:|---:|---|---:|"]
        for r in rows:
            lines.append(f"| {r['device']} | {r['batch']} | {r['fps']:.2f} | {r['ms_per_frame']:.1f} | "
                         f"{r['post_ms']:.1f} | {r['spread'][0]:.2f}–{r['spread'][1]:.2f} ({r['frames']} frames) | "
                         f"{r['points_per_frame']:.1f} |")
        lines.append("")
        lines.append("End to end = MJPG decoding (OpenCV), normalisation and padding, network, Otsu/opening/cutting/"
                     f"centroid decoding; {args.repeats} timed passes after one warm-up.")
    if stream:
        samples = stream["samples"]
        first = next((rss for n, rss in samples if n >= args.sample_every), samples[-1][1])
        last = samples[-1][1]
        lines += ["", "| long stream | frames | video file | decoded size if held | RSS at "
                  f"{args.sample_every} frames | RSS at end | peak RSS | growth | time |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
                  f"| CLI writer, {stream['model']} | {stream['frames']} | {stream['video_mib']:.0f} MiB | "
                  f"{stream['decoded_mib']:.0f} MiB | {first:.0f} MiB | {last:.0f} MiB | {stream['peak_rss_mib']:.0f} MiB | "
                  f"{last - first:+.0f} MiB | {stream['seconds']:.0f} s |",
                  "", "RSS samples (frames: MiB): " + ", ".join(f"{n}: {rss:.0f}" for n, rss in samples)]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=64, help="frames in the speed video (default 64)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per setting (default 5)")
    parser.add_argument("--batch-sizes", default="1,4", help="comma-separated batch sizes (default 1,4)")
    parser.add_argument("--devices", default=None, help="comma-separated; default cpu, plus cuda when available")
    parser.add_argument("--threads", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                        help="torch CPU threads (default min(4, cores))")
    parser.add_argument("--weights", default=None, help="model card; default shipped, else untrained default net")
    parser.add_argument("--stream-frames", type=int, default=10_000, help="long-stream length (0 = skip)")
    parser.add_argument("--stream-cycle", type=int, default=50, help="distinct frames cycled in the long video")
    parser.add_argument("--stream-model", choices=("spot", "main"), default="spot")
    parser.add_argument("--stream-device", default="cpu")
    parser.add_argument("--stream-batch", type=int, default=8)
    parser.add_argument("--sample-every", type=int, default=500, help="RSS sample interval in frames")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a new one in /tmp, removed after)")
    # internal: the long-stream child process
    parser.add_argument("--stream-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stream-video", help=argparse.SUPPRESS)
    parser.add_argument("--stream-weights", help=argparse.SUPPRESS)
    parser.add_argument("--stream-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stream_child:
        stream_child(args)
        return 0

    import torch

    torch.set_num_threads(args.threads)
    devices = args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench_sutures_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        card, description = benchmark_model(work, args.weights)
        rows = []
        if args.frames > 0:
            print(f"writing {args.frames} phantom frames...", file=sys.stderr)
            video = write_video(work / "speed.avi", phantom_frames(args.frames), args.frames)
            rows = speed_table(card, video, devices, batch_sizes, args.repeats)
        stream = None
        if args.stream_frames > 0:
            print(f"long stream of {args.stream_frames} frames...", file=sys.stderr)
            stream = stream_table(args, card, description, work)
        print(markdown(rows, stream, description, args))
        if rows:
            # The machine's dense-conv ceiling, in the same run: frames/s from a noisy machine mean little alone.
            from bench_cardiac import conv_throughput_gflops  # one home of the ceiling (same folder)

            ceiling = conv_throughput_gflops(torch, torch.device("cpu"), max(args.repeats, 3))
            from heatmap_landmarks.checkpoint import load_checkpoint
            from heatmap_landmarks.models import estimate_flops

            net, _ = load_checkpoint(card)
            gflops = estimate_flops(net, (1, 3, 288, 512)) / 1e9  # per 512x288 frame
            for row in rows:
                if row.get("device") == "cpu":
                    achieved = row["fps"] * gflops
                    print(f"cpu batch {row['batch']}: {row['fps']:.2f} frames/s = {achieved:.1f} GFLOP/s end to end, "
                          f"{100 * achieved / ceiling:.0f} % of the dense 3x3 conv ceiling {ceiling:.1f} GFLOP/s "
                          f"measured in the same run")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
