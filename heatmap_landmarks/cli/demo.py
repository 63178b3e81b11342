"""``heatmap-landmarks demo``: phantom cines in, cardiac landmarks out, errors against the phantoms' truth.

    heatmap-landmarks demo [--out DIR]

Generates a synthetic short-axis cine (several slices) and a long-axis cine,
writes them as NIfTI files under ``DIR/inputs``, runs ``heatmap-landmarks
cardiac`` on a SAX stack, a SAX cine and the LAX cine with the shipped
weights, and prints the errors per landmark.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..cardiac import load_predictors
from ..errors import InputError, refuse_overwrite
from ..inference import DEVICES
from ._common import positive_int
from .cardiac import detect_file, frame_of, output_names


def add_parser(subparsers) -> None:
    """Register ``demo`` (called by :func:`heatmap_landmarks.cli.build_parser`)."""
    demo = subparsers.add_parser(
        "demo", help="generate phantom cines, detect their landmarks and compare with the truth",
        description="Generate a synthetic short-axis cine (several slices) and a long-axis cine, write them as "
                    "NIfTI files, run the cardiac detection on a SAX stack, a SAX cine and the LAX cine with the "
                    "shipped demo weights, and print the errors against the phantom's exact landmarks.")
    demo.add_argument("--out", default="heatmap_landmarks_demo",
                      help="output folder (created if missing); default heatmap_landmarks_demo")
    demo.add_argument("--frames", type=int, default=30, help="time points per cine (default 30)")
    demo.add_argument("--slices", type=int, default=6, help="short-axis slices (default 6)")
    demo.add_argument("--seed", type=int, default=2024, help="phantom seed (default 2024)")
    demo.add_argument("--randomisation", choices=("none", "train", "wide"), default="none",
                      help="phantom variability: none (canonical pose and contrast; default), train, wide")
    demo.add_argument("--weights-sax", default=None, help="short-axis model card (default: shipped)")
    demo.add_argument("--weights-lax", default=None, help="long-axis model card (default: shipped)")
    demo.add_argument("--device", default="cpu", choices=DEVICES, help="where to run the model")
    demo.add_argument("--batch-size", type=positive_int, default=8, help="frames per forward pass (default 8)")
    demo.add_argument("--overwrite", action="store_true", help="replace existing output files")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(handler=run_demo)


def _demo_inputs(folder: Path, args) -> list:
    """Write the phantom inputs; returns ``[(name, path, truth)]`` with ``truth(label, frame) -> (x, y) px or None``."""
    from ..io import write_image
    from ..phantoms import make_cardiac_cine

    sax = make_cardiac_cine(args.seed, view="sax", n_frames=args.frames, n_slices=args.slices,
                            randomisation=args.randomisation)
    lax = make_cardiac_cine(args.seed + 1, view="lax", n_frames=args.frames, lax_view="4ch",
                            randomisation=args.randomisation)
    z_cine = max(1, args.slices // 3)  # a basal-to-mid slice: the RV is there
    folder.mkdir(parents=True, exist_ok=True)
    inputs = []

    def truth_of(cine, t_fixed=None, z_fixed=None):
        def truth(label, frame):
            t = frame if t_fixed is None else t_fixed
            z = frame if z_fixed is None else z_fixed
            if label not in cine.landmarks:
                return None
            xy = cine.landmarks[label][t, z]
            return None if not np.isfinite(xy).all() else xy
        return truth

    specs = (
        ("sax_stack", sax.frames[0], sax.geometry, "3d", truth_of(sax, t_fixed=0)),
        ("sax_cine", sax.frames[:, z_cine], sax.geometry.frame(z_cine), "2d+t", truth_of(sax, z_fixed=z_cine)),
        ("lax_cine", lax.frames[:, 0], lax.geometry, "2d+t", truth_of(lax, z_fixed=0)),
    )
    for name, frames, geometry, kind, truth in specs:
        path = folder / f"{name}.nii.gz"
        write_image(path, frames.astype(np.float32), geometry, kind=kind, overwrite=args.overwrite)
        inputs.append((name, path, truth))
    return inputs


def demo_errors(summary: dict, truth) -> tuple[dict, dict]:
    """Per-label errors (px, mm) of the detections against the phantom truth; NaN = expected but not found."""
    image = summary["image"]
    by_key = {(r["label"], frame_of(r, image.kind)): r for r in summary["landmarks"]}
    labels = sorted({r["label"] for r in summary["landmarks"]}
                    | ({"MV-1", "MV-2"} if summary["view"] == "lax" else {"RVI-1", "RVI-2"}))
    err_px: dict = {}
    err_mm: dict = {}
    for label in labels:
        for frame in range(image.n_frames):
            xy = truth(label, frame)
            if xy is None:
                continue
            if label == "LVC" and any(truth(end, frame) is not None for end in ("BCA", "ACA")):
                continue  # the LV centre of an end slice is named BCA/ACA there, and scored under that name
            row = by_key.get((label, frame))
            true_ras = image.points_to_ras([xy], frame=frame)[0]
            if row is None:
                px = mm = float("nan")
            else:
                px = float(np.hypot(row["x"] - xy[0], row["y"] - xy[1]))
                mm = float(np.linalg.norm(np.array([row["r"], row["a"], row["s"]]) - true_ras))
            err_px.setdefault(label, []).append(px)
            err_mm.setdefault(label, []).append(mm)
    return err_px, err_mm


def run_demo(args) -> int:
    """Handler of ``heatmap-landmarks demo``."""
    from ..metrics import format_markdown_table, summarise_landmark_errors

    if args.frames < 1 or args.slices < 2:  # before the models (and torch) are loaded
        raise InputError(None, f"--frames must be >= 1 and --slices >= 2, got {args.frames}, {args.slices}")
    out = Path(args.out)
    started = time.perf_counter()
    weights = {}
    if args.weights_sax:
        weights["sax"] = args.weights_sax
    if args.weights_lax:
        weights["lax"] = args.weights_lax
    from ..catalog import default_weights_key

    for view in ("sax", "lax"):
        weights.setdefault(view, default_weights_key("cardiac", view))
    predictors = load_predictors("auto", weights, device=args.device, batch_size=args.batch_size or 8)
    for name in ("sax_stack", "sax_cine", "lax_cine"):  # refuse before generating anything
        for file_name in output_names(name).values():
            refuse_overwrite(out / file_name, args.overwrite)
        refuse_overwrite(out / "inputs" / f"{name}.nii.gz", args.overwrite)
    inputs = _demo_inputs(out / "inputs", args)
    generated = time.perf_counter() - started
    print(f"Phantoms (synthetic, seed {args.seed}, randomisation {args.randomisation}) written to {out / 'inputs'} "
          f"in {generated:.1f} s. The short-axis weights were trained on ACDC patients (research use only), the long-axis weights "
          f"on synthetic phantoms only.")
    for name, path, truth in inputs:
        view = "lax" if name.startswith("lax") else "sax"
        summary = detect_file(path, out, view=view, overwrite=args.overwrite, quiet=args.quiet, name=name,
                              predictors={view: predictors[view]})
        err_px, err_mm = demo_errors(summary, truth)
        frames = summary["image"].n_frames
        print(f"\n## {name}: {summary['image'].kind}, {frames} frame(s), view {summary['view']}, "
              f"{summary['seconds']:.1f} s ({1000 * summary['detections'].seconds / frames:.0f} ms/frame detection)")
        if err_px:
            print(format_markdown_table(summarise_landmark_errors(err_px, err_mm)))
        for m in summary["measurements"]:
            if frame_of(m, summary["image"].kind) == -1 or (summary["image"].kind == "3d"
                                                            and m["measurement"] != "RV insertion angle"):
                print(f"- {m['measurement']}: {m['value']:.1f} {m['unit']}")
        print(f"- outputs: {', '.join(p.name for p in summary['files'].values())}")
    print(f"\nDone in {time.perf_counter() - started:.1f} s; results in {out}")
    return 0
