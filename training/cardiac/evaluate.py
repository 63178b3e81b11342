"""Evaluate a cardiac landmark model through the shipped inference path.

    python -m training.cardiac.evaluate --weights heatmap_landmarks/weights/cardiac_sax.json \\
        --phantom-seeds 100000:100200 --randomisation wide --out runs/eval_sax
    python -m training.cardiac.evaluate --weights cardiac_sax --cine-seeds 200000:200010 --blind-test --out runs/blind_sax
    python -m training.cardiac.evaluate --weights cardiac_sax --stacom /data/stacom --blind-test --out runs/stacom

Every image goes through :class:`heatmap_landmarks.inference.CardiacPredictor`
(preprocessing, network, decoding, inverse transform), so errors are measured
in the *original* pixel grid of each image, and in mm with its spacing.

Outputs in ``--out``:

* ``table1.md`` / ``table1.csv`` - Table 1 layout: per landmark mean +- std radial error
  in px and mm (misses excluded from the mean, counted in ``n_missed``).
* ``table2.md`` / ``table2.csv`` - Table 2 layout: per landmark SDR at 2, 3 and 5 px
  (misses count as failures).
* ``summary.json`` - both tables, identity-free errors (Hungarian matching, separating
  localisation from naming), false detections, targets met or not, model size and speed.
* ``per_landmark.csv`` - one row per (image, landmark).

Data sources: ``--phantom-seeds`` (single slices as in training, any randomisation),
``--cine-seeds`` (whole synthetic cines from :func:`~heatmap_landmarks.phantoms.make_cardiac_cine`:
a different generator setting - SAX stacks with BCA on the basal and ACA on the apical
slice, every phase, oblique geometry), ``--stacom ROOT`` or ``--acdc ROOT`` (real data;
none is available in this repository's environment).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from heatmap_landmarks.checkpoint import ModelCard, load_card
from heatmap_landmarks.errors import InputError, refuse_overwrite
from heatmap_landmarks.fileutil import atomic_text_file
from heatmap_landmarks.cardiac import CardiacPredictor
from heatmap_landmarks.metrics import format_markdown_table, radial_errors, summarise_landmark_errors, write_csv
from heatmap_landmarks.phantoms import make_cardiac_cine

from ..common import one_line_errors
from ..common.config import parse_seed_range
from ..datasets import DatasetReport, iter_acdc_dataset, iter_stacom_dataset
from .data import phantom_names, render_phantom
# DatasetReport, iter_acdc_dataset, iter_stacom_dataset

#: Mean-error targets (px) of the issue, by landmark name.
TARGETS_PX = {"ACA": 1.8, "BCA": 1.6, "MV-1": 3.0, "MV-2": 3.0, "RVI-1": 2.8, "RVI-2": 2.8}
TARGET_SDR5 = 0.95
#: Display order of table rows.
ORDER = ["RVI-1", "RVI-2", "BCA", "LVC", "ACA", "MV-1", "MV-2"]


class Collector:
    """Accumulates per-landmark errors (px, mm), identity-free errors and false detections."""

    def __init__(self):
        self.px: dict[str, list] = {}
        self.mm: dict[str, list] = {}
        self.free_px: list = []
        self.false = 0
        self.absent = 0
        self.rows: list = []
        self.images = 0

    def add(self, source: str, pred: np.ndarray, gt: np.ndarray, display: list, spacing_xy, conf=None) -> None:
        """``pred``, ``gt``: ``(L, 2)`` original px (NaN = missed / absent); ``display``: names per row."""
        self.images += 1
        for j, name in enumerate(display):
            if np.isnan(gt[j, 0]):
                self.absent += 1
                if not np.isnan(pred[j, 0]):
                    self.false += 1
                    self.rows.append({"source": source, "landmark": name, "error_px": "", "error_mm": "",
                                      "status": "false detection (no such landmark)"})
                continue
            e_px, e_mm = radial_errors(pred[j:j + 1], gt[j:j + 1], spacing_xy)
            self.px.setdefault(name, []).append(float(e_px[0]))
            self.mm.setdefault(name, []).append(float(e_mm[0]))
            self.rows.append({"source": source, "landmark": name,
                              "error_px": "" if np.isnan(e_px[0]) else round(float(e_px[0]), 4),
                              "error_mm": "" if np.isnan(e_mm[0]) else round(float(e_mm[0]), 4),
                              "confidence": "" if conf is None else round(float(conf[j]), 4),
                              "status": "missed" if np.isnan(e_px[0]) else "found"})
        p = pred[~np.isnan(pred[:, 0])]
        g = gt[~np.isnan(gt[:, 0])]
        if len(p) and len(g):
            cost = np.hypot(*(p[:, None, :] - g[None, :, :]).transpose(2, 0, 1))
            r, c = linear_sum_assignment(cost)
            self.free_px.extend(cost[r, c].tolist())

    def tables(self) -> list[dict]:
        names = sorted(self.px, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
        return summarise_landmark_errors({n: self.px[n] for n in names}, {n: self.mm[n] for n in names})


def _table1(rows: list[dict]) -> str:
    lines = ["| Landmark | Error (px) | Error (mm) | N | Missed |", "|---|---|---|---|---|"]
    for r in rows:
        px = "–" if not math.isfinite(r["mean_px"]) else f"{r['mean_px']:.2f} ± {r['std_px']:.2f}"
        mm = "–" if not math.isfinite(r["mean_mm"]) else f"{r['mean_mm']:.2f} ± {r['std_mm']:.2f}"
        lines.append(f"| {r['landmark']} | {px} | {mm} | {r['n']} | {r['n_missed']} |")
    return "\n".join(lines)


def _table2(rows: list[dict]) -> str:
    lines = ["| Landmark | SDR 2 px (%) | SDR 3 px (%) | SDR 5 px (%) | N |", "|---|---|---|---|---|"]
    for r in rows:
        cells = ["–" if not math.isfinite(r[k]) else f"{100 * r[k]:.1f}" for k in ("sdr_2px", "sdr_3px", "sdr_5px")]
        lines.append(f"| {r['landmark']} | " + " | ".join(cells) + f" | {r['n']} |")
    return "\n".join(lines)


def _targets(rows: list[dict]) -> dict:
    out = {}
    for r in rows:
        name = r["landmark"]
        if name in TARGETS_PX:
            out[name] = {"target_mean_px": TARGETS_PX[name], "mean_px": _num(r["mean_px"]),
                         "met": bool(math.isfinite(r["mean_px"]) and r["mean_px"] <= TARGETS_PX[name])}
        if name == "All":
            out["SDR<=5px"] = {"target": TARGET_SDR5, "value": _num(r["sdr_5px"]),
                               "met": bool(r["sdr_5px"] >= TARGET_SDR5)}
    return out


def _num(v):
    if isinstance(v, (float, np.floating)):
        return round(float(v), 4) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


# --------------------------------------------------------------------------- sources
def eval_phantom(pred: CardiacPredictor, seeds: range, randomisation: str, phase: str, col: Collector, progress=None):
    names = pred.names
    for n, seed in enumerate(seeds):
        s = render_phantom(pred.card.view, seed, randomisation, phase)
        out = pred.predict_cardiac(s.image[None], s.spacing_xy, return_heatmaps=False)
        col.add(f"phantom:{pred.card.view}:{seed}", out.points[0], s.points(names), phantom_names(s),
                s.spacing_xy, out.confidence[0])
        if progress:
            progress(n + 1, len(seeds))


def eval_cine(pred: CardiacPredictor, seeds: range, randomisation: str, n_frames: int, n_slices: int, col: Collector,
              timings: list, progress=None):
    view = pred.card.view
    names = pred.names
    for n, seed in enumerate(seeds):
        cine = make_cardiac_cine(int(seed), view=view, n_frames=n_frames, n_slices=n_slices if view == "sax" else 1,
                                 randomisation=randomisation)
        z_count = cine.frames.shape[1]
        for z in range(z_count):
            t0 = time.perf_counter()
            out = pred.predict_cardiac(cine.frames[:, z], cine.spacing[:2], return_heatmaps=False)
            timings.append((time.perf_counter() - t0) / cine.frames.shape[0])
            display = list(names)
            if view == "sax":
                display[2] = "BCA" if z == 0 and z_count > 1 else "ACA" if z == z_count - 1 and z_count > 1 else "LVC"
                if z_count == 1:
                    from heatmap_landmarks.phantoms import lv_centre_name

                    display[2] = lv_centre_name(float(cine.levels[0]))
            for t in range(cine.frames.shape[0]):
                gt = np.array([cine.landmarks[k][t, z] for k in names], dtype=np.float64)
                col.add(f"cine:{view}:{seed}:t{t}:z{z}", out.points[t], gt, display, cine.spacing[:2],
                        out.confidence[t])
        if progress:
            progress(n + 1, len(seeds))


def eval_real(pred: CardiacPredictor, source: str, root: str, col: Collector, report: DatasetReport, rvip_root=None):
    view = pred.card.view
    names = pred.names
    it = (iter_stacom_dataset(root, report=report) if source == "stacom"
          else iter_acdc_dataset(root, rvip_root=rvip_root, report=report))
    for s in it:
        if getattr(s, "view", "sax") != view:
            continue
        lm = dict(s.landmarks)
        display = list(names)
        if view == "sax":
            centre = [k for k in ("BCA", "ACA") if k in lm and np.isfinite(lm[k]).all()]
            if centre:
                lm["LVC"], display[2] = lm[centre[0]], centre[0]
        gt = np.array([lm.get(n, (np.nan, np.nan)) for n in names], dtype=np.float64)
        if np.isnan(gt).all():
            continue
        out = pred.predict_cardiac(s.image[None], s.spacing_xy, return_heatmaps=False, source=s.source)
        # Unannotated landmarks are unknown on real data, not absent: do not count them as false detections.
        p = out.points[0].astype(np.float64).copy()
        p[np.isnan(gt[:, 0])] = np.nan
        col.add(s.source, p, gt, display, s.spacing_xy, out.confidence[0])


def benchmark(pred: CardiacPredictor, n_frames: int = 30, repeats: int = 3) -> dict:
    """Latency of a ``n_frames`` x 256 x 256 cine through ``CardiacPredictor.predict_cardiac`` (median of ``repeats``)."""
    cine = make_cardiac_cine(0, view=pred.card.view, n_frames=n_frames, size=(256, 256), randomisation="train")
    frames, spacing = cine.frames[:, 0], cine.spacing[:2]
    pred.predict_cardiac(frames[:2], spacing, return_heatmaps=False)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pred.predict_cardiac(frames, spacing, return_heatmaps=True)
        times.append(time.perf_counter() - t0)
    t = float(np.median(times))
    return {"frames": n_frames, "size": [256, 256], "seconds_total": round(t, 3), "ms_per_frame": round(1000 * t / n_frames, 1),
            "repeats": repeats, "includes": "preprocessing, network, decoding, heatmaps back to the original grid"}


def model_size(pred: CardiacPredictor) -> dict:
    from heatmap_landmarks.models import count_parameters, estimate_flops

    size = tuple(pred.card.input_size)
    return {"parameters": count_parameters(pred.model),
            "gflops_per_frame": round(estimate_flops(pred.model, (1, 1, *size)) / 1e9, 4)}


# --------------------------------------------------------------------------- card update
def record_in_card(card_path: Path, key: str, entry: dict) -> None:
    """Write ``entry`` into ``card.metrics[key]`` (the weights and their sha256 are untouched)."""
    card = load_card(card_path)
    metrics = dict(card.metrics)
    metrics[key] = entry
    new = ModelCard.from_dict({**card.to_dict(), "metrics": metrics}, source=card_path)
    with atomic_text_file(card_path, overwrite=True) as fh:
        fh.write(new.to_json())


def card_entry(rows: list[dict], summary: dict) -> dict:
    """Compact per-landmark record for a model card (what the demo-weights test re-checks)."""
    overall = next(r for r in rows if r["landmark"] == "All")
    return {
        "data": summary["data"],
        **({"phantom": summary["phantom"]} if "phantom" in summary else {}),
        "all_mean_px": _num(overall["mean_px"]), "all_mean_mm": _num(overall["mean_mm"]),
        "all_sdr_5px": _num(overall["sdr_5px"]), "n": overall["n"], "missed": overall["n_missed"],
        "targets": summary["targets"],
        "per_landmark": {r["landmark"]: {"mean_px": _num(r["mean_px"]), "std_px": _num(r["std_px"]),
                                         "mean_mm": _num(r["mean_mm"]), "sdr_2px": _num(r["sdr_2px"]),
                                         "sdr_3px": _num(r["sdr_3px"]), "sdr_5px": _num(r["sdr_5px"]),
                                         "n": r["n"], "n_missed": r["n_missed"]} for r in rows},
        "identity_free_mean_px": summary["identity_free"]["mean_px"],
        "false_detections": summary["false_detections"],
        "command": summary["command"],
    }


# --------------------------------------------------------------------------- CLI
@one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.cardiac.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", required=True, help="model card (.json), weights (.safetensors) or catalogue key")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--phantom-seeds", help="phantom seed range start:stop (single slices)")
    src.add_argument("--cine-seeds", help="phantom cine seed range start:stop (whole cines; a different generator)")
    src.add_argument("--stacom", metavar="ROOT", help="STACOM dataset root")
    src.add_argument("--acdc", metavar="ROOT", help="ACDC root (with RV-insertion labels)")
    p.add_argument("--rvip-root", help="ACDC label folder if separate")
    p.add_argument("--randomisation", default="wide", choices=("none", "train", "wide"), help="phantom randomisation")
    p.add_argument("--phase", default="random", choices=("random", "ed"), help="phantom phase (single slices)")
    p.add_argument("--cine-frames", type=int, default=10)
    p.add_argument("--cine-slices", type=int, default=6)
    p.add_argument("--blind-test", action="store_true", help="label the report as a blind test on a second dataset")
    p.add_argument("--out", required=True)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--rotations", type=int, choices=(1, 2, 4),
                   help="test-time rotations averaged (default: the card's rotations, else 1)")
    p.add_argument("--benchmark", action="store_true", help="also time a 30-frame 256x256 cine")
    p.add_argument("--record-in-card", metavar="KEY", help="store the results in the card's metrics[KEY]")
    args = p.parse_args(argv)
    return _run(args, argv)


def _run(args, argv) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    for name in ("table1.md", "summary.json"):
        refuse_overwrite(out / name, args.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    pred = CardiacPredictor(args.weights, device=args.device, batch_size=args.batch_size, rotations=args.rotations)
    if pred.task != "cardiac":
        raise InputError(pred.weights_path, "is not a cardiac model")
    if args.record_in_card and pred.rotations != pred.card.rotations:
        raise InputError(pred.weights_path, f"--rotations {pred.rotations} differs from the card's rotations; "
                                            "a result recorded in the card must be what the card reproduces")
    col = Collector()
    timings: list = []
    report = DatasetReport("evaluation")
    t0 = time.perf_counter()
    from ..common import progress_bar

    bar = progress_bar(total=None, desc="evaluate", enabled=sys.stderr.isatty())

    def progress(done, total):
        bar.total = total
        bar.update(done - bar.n)

    if args.phantom_seeds:
        seeds = parse_seed_range(args.phantom_seeds, "--phantom-seeds")
        eval_phantom(pred, seeds, args.randomisation, args.phase, col, progress)
        data = (f"synthetic phantom single {pred.card.view} slices, seeds {args.phantom_seeds} "
                f"({len(seeds)} images), randomisation '{args.randomisation}', phase {args.phase}")
    elif args.cine_seeds:
        seeds = parse_seed_range(args.cine_seeds, "--cine-seeds")
        eval_cine(pred, seeds, args.randomisation, args.cine_frames, args.cine_slices, col, timings, progress)
        data = (f"synthetic phantom cines (make_cardiac_cine), seeds {args.cine_seeds}, {args.cine_frames} frames x "
                f"{args.cine_slices if pred.card.view == 'sax' else 1} slices each, randomisation '{args.randomisation}'")
    else:
        source = "stacom" if args.stacom else "acdc"
        root = args.stacom or args.acdc
        eval_real(pred, source, root, col, report, rvip_root=args.rvip_root)
        data = f"{source} {root}: {report.summary()}"
    bar.close()
    if not col.px:
        raise InputError(None, f"no landmark could be scored ({data})")
    rows = col.tables()
    free = np.asarray(col.free_px, dtype=np.float64)
    summary = {
        "weights": str(pred.weights_path), "card_name": pred.card.name, "view": pred.card.view,
        "heatmap_mode": pred.card.heatmap_mode, "decoder": pred.card.decoder, "rotations": pred.rotations,
        "data": data, "blind_test": bool(args.blind_test), "images": col.images,
        "units": "px = original image pixels (after the inverse preprocessing transform); mm = px x spacing",
        "table1_table2_rows": [{k: _num(v) for k, v in r.items()} for r in rows],
        "identity_free": {"mean_px": _num(float(free.mean())) if free.size else None,
                          "sdr_5px": _num(float((free <= 5).mean())) if free.size else None, "n": int(free.size),
                          "note": "predicted and true points matched one-to-one regardless of names"},
        "false_detections": {"count": col.false, "absent_landmarks": col.absent},
        "targets": _targets(rows),
        "model": model_size(pred),
        "seconds": round(time.perf_counter() - t0, 1),
        "command": "python -m training.cardiac.evaluate " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    if args.phantom_seeds:
        summary["phantom"] = {"seeds": args.phantom_seeds, "randomisation": args.randomisation, "phase": args.phase}
    if timings:
        summary["cine_ms_per_frame"] = round(1000 * float(np.median(timings)), 1)
    if args.benchmark:
        summary["benchmark"] = benchmark(pred)
    title = "Blind test" if args.blind_test else "Held-out test"
    head = f"# {title}: {pred.card.name}\n\n{data}\n\n"
    (out / "table1.md").write_text(head + "## Table 1 layout: radial error\n\n" + _table1(rows) + "\n",
                                   encoding="utf-8")
    (out / "table2.md").write_text(head + "## Table 2 layout: successful detection rate\n\n" + _table2(rows) + "\n",
                                   encoding="utf-8")
    cols1 = ("landmark", "mean_px", "std_px", "mean_mm", "std_mm", "n", "n_missed")
    cols2 = ("landmark", "sdr_2px", "sdr_3px", "sdr_5px", "n")
    write_csv([{k: _num(r[k]) for k in cols1} for r in rows], out / "table1.csv", overwrite=True)
    write_csv([{k: _num(r[k]) for k in cols2} for r in rows], out / "table2.csv", overwrite=True)
    write_csv(col.rows, out / "per_landmark.csv", overwrite=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if args.record_in_card:
        card_path = pred.weights_path if pred.weights_path.suffix == ".json" else pred.weights_path.with_suffix(".json")
        entry = card_entry(rows, summary)
        if args.benchmark:
            entry["benchmark"] = summary["benchmark"]
        entry["model"] = summary["model"]
        record_in_card(card_path, args.record_in_card, entry)
    print(format_markdown_table(rows))
    print(f"identity-free mean {summary['identity_free']['mean_px']} px; false detections {col.false}; "
          f"targets: {json.dumps(summary['targets'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
