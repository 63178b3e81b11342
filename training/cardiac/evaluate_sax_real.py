"""Short-axis models on real stacks, scored against landmarks derived from expert masks.

    python -m training.cardiac.evaluate_sax_real --weights heatmap_landmarks/weights/cardiac_sax.json \\
        --acdc ../shared/realdata/acdc/training --split-config training/configs/cardiac_sax_acdc.json \\
        --part test --out runs/eval_acdc_test
    python -m training.cardiac.evaluate_sax_real --weights ... --mnms2 ../shared/realdata/mnms2/001 --out runs/eval_mnms2

Every stack (one patient, one phase) goes through the product's own path,
:func:`heatmap_landmarks.cardiac.detect_cardiac` (preprocessing, network,
decoding, naming of RV insertions and of BCA/ACA), with the file's geometry.
Reference points come from the masks, named as ``from-segmentation`` names them
(:func:`heatmap_landmarks.cardiac.segmentation.detections_from_labels`): on ACDC with
anterior up in the array (its headers carry no orientation); on M&Ms-2 from the
real patient geometry, by the insertions' turn around the LV. Errors are in mm of the original pixels.

Reported (``report.md`` and ``summary.json`` in ``--out``):

* per landmark: mean ± std, median, the share within 2, 3 and 5 mm of the slices
  whose masks give the landmark (a miss counts as a failure), found rate, points
  further than 10 and 20 mm;
* RV insertions: the pair detection rate (both found where the masks give both),
  false insertions on slices whose masks give none, and identity swaps
  (both found, and the crossed assignment fits better than the named one);
* BCA/ACA: the LV centre on the most basal / most apical slice with an LV cavity
  (ACDC stacks run from base to apex), and whether the pipeline named those
  slices BCA/ACA.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from heatmap_landmarks.errors import InputError, refuse_overwrite
from heatmap_landmarks.io import read_image
from heatmap_landmarks.cardiac.segmentation import (
    ACDC_LABELS,
    ANTERIOR_UP,
    MNMS2_LABELS,
)

from ..common import one_line_errors
from ..datasets.acdc import FRAME_IMAGE, GT_SUFFIX, parse_info_cfg
from ..datasets.splits import stratified_split

NAMES = ("RVI-1", "RVI-2", "LVC")
THRESHOLDS_MM = (2.0, 3.0, 5.0)
#: Targets of the real-data issue, on the validation split.
TARGETS = {"rvi_pair_rate": 0.95, "rvi_mean_mm": 3.5, "false_rate": 0.05, "swap_rate": 0.01,
           "lvc_mean_mm": 2.5, "lvc_found": 0.98}


def acdc_split(root: str | os.PathLike, split_config: str | os.PathLike) -> dict:
    """``{"train": [...], "val": [...], "test": [...]}`` patient folder names, as training splits them.

    Reads only ``Info.cfg`` (the pathology group) and applies the config's
    stratified split (``data.test_per_stratum``, ``val_per_stratum``, ``split_seed``),
    which gives the same patients as :func:`training.cardiac.data.split_real_items`
    when every patient loads.
    """
    from ..common.config import load_config
    from .config import CardiacTrainConfig

    cfg = load_config(split_config, CardiacTrainConfig).data
    if not cfg.test_per_stratum:
        raise InputError(split_config, "has no stratified split (data.test_per_stratum is 0)")
    root = Path(root)
    patients = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.startswith("patient"))
    groups = [parse_info_cfg(root / p / "Info.cfg").group for p in patients]
    sp = stratified_split(patients, groups, test_per_stratum=cfg.test_per_stratum,
                          val_per_stratum=cfg.val_per_stratum, seed=cfg.split_seed)
    return {"train": sp.train_groups, "val": sp.val_groups, "test": sp.test_groups}


def _stacks_acdc(root: Path, patients: list):
    """Yield ``(name, image path, mask path, labels, anterior_xy or None)`` for ED and ES of each patient."""
    for patient in patients:
        folder = root / patient
        for name in sorted(os.listdir(folder)):
            if FRAME_IMAGE.match(name):
                stem = name.split(".nii")[0]
                mask = folder / (stem + GT_SUFFIX)
                if mask.is_file():
                    yield stem, folder / name, mask, ACDC_LABELS, None


def _stacks_mnms2(folder: Path):
    for phase in ("ED", "ES"):
        stem = f"{folder.name}_SA_{phase}"
        yield stem, folder / f"{stem}.nii.gz", folder / f"{stem}_gt.nii.gz", MNMS2_LABELS, "geometry"


class Scores:
    """Per-slice comparison of detected and mask-derived points (mm)."""

    def __init__(self):
        self.err = {n: [] for n in (*NAMES, "BCA", "ACA")}  # NaN = missed
        self.rvi_both = self.rvi_both_found = 0
        self.rvi_none = self.rvi_none_false = 0
        self.pairs = self.swaps = 0
        self.lvc_absent = self.lvc_false = 0
        self.end_names = {"BCA": [0, 0], "ACA": [0, 0]}  # [named so, total]
        self.slices = self.stacks = 0
        self.rows = []

    def add_stack(self, stem: str, det, ref: list, spacing_xy) -> None:
        self.stacks += 1
        sx, sy = float(spacing_xy[0]), float(spacing_xy[1])
        pts = det.points[0]  # (Z, L, 2)
        order = [list(det.names).index(n) for n in NAMES]
        with_lv = [z for z, r in enumerate(ref) if "LVC" in r.points]
        for z, r in enumerate(ref):
            self.slices += 1
            p = pts[z, order].astype(np.float64)
            g = np.array([r.get(n) for n in NAMES])

            def dist(a, b):
                return float(np.hypot((a[0] - b[0]) * sx, (a[1] - b[1]) * sy))

            for k, n in enumerate(NAMES):
                if np.isfinite(g[k, 0]):
                    self.err[n].append(dist(p[k], g[k]) if np.isfinite(p[k, 0]) else math.nan)
                    self.rows.append({"stack": stem, "slice": z, "landmark": n, "error_mm": self.err[n][-1]})
            found = np.isfinite(p[:, 0])
            if np.isfinite(g[0, 0]) and np.isfinite(g[1, 0]):
                self.rvi_both += 1
                if found[0] and found[1]:
                    self.rvi_both_found += 1
                    self.pairs += 1
                    direct = dist(p[0], g[0]) + dist(p[1], g[1])
                    crossed = dist(p[0], g[1]) + dist(p[1], g[0])
                    self.swaps += int(crossed < direct)
            elif not np.isfinite(g[0, 0]) and not np.isfinite(g[1, 0]):
                self.rvi_none += 1
                self.rvi_none_false += int(found[0] or found[1])
            if not np.isfinite(g[2, 0]):
                self.lvc_absent += 1
                self.lvc_false += int(found[2])
        if with_lv:
            centre = list(det.names).index("LVC")
            for name, z in (("BCA", with_lv[0]), ("ACA", with_lv[-1])):
                g = ref[z].get("LVC")
                p = pts[z, centre].astype(np.float64)
                self.err[name].append(float(np.hypot((p[0] - g[0]) * sx, (p[1] - g[1]) * sy))
                                      if np.isfinite(p[0]) else math.nan)
                self.end_names[name][1] += 1
                self.end_names[name][0] += int(det.labels[0, z, centre] == name)

    def summary(self) -> dict:
        per = {}
        for n, values in self.err.items():
            e = np.asarray(values, dtype=np.float64)
            ok = e[np.isfinite(e)]
            per[n] = {
                "n": int(e.size), "found": _r(ok.size / e.size) if e.size else None,
                "mean_mm": _r(ok.mean()) if ok.size else None, "std_mm": _r(ok.std()) if ok.size else None,
                "median_mm": _r(np.median(ok)) if ok.size else None,
                **{f"within_{t:g}mm": _r(float((ok <= t).sum()) / e.size) if e.size else None for t in THRESHOLDS_MM},
                "over_10mm": int((ok > 10).sum()), "over_20mm": int((ok > 20).sum()),
            }
        out = {
            "stacks": self.stacks, "slices": self.slices, "per_landmark": per,
            "rvi_pair_rate": _r(self.rvi_both_found / self.rvi_both) if self.rvi_both else None,
            "rvi_slices_with_both": self.rvi_both,
            "false_insertion_rate": _r(self.rvi_none_false / self.rvi_none) if self.rvi_none else None,
            "rvi_slices_with_none": self.rvi_none,
            "swap_rate": _r(self.swaps / self.pairs) if self.pairs else None, "swaps": self.swaps,
            "false_lvc_rate": _r(self.lvc_false / self.lvc_absent) if self.lvc_absent else None,
            "slices_without_lv": self.lvc_absent,
            "ends_named": {k: _r(v[0] / v[1]) if v[1] else None for k, v in self.end_names.items()},
        }
        rvi_means = [per[n]["mean_mm"] for n in ("RVI-1", "RVI-2")]
        out["targets"] = {
            "rvi_pair_rate>=0.95": _met(out["rvi_pair_rate"], TARGETS["rvi_pair_rate"], ">="),
            "rvi_mean_mm<=3.5": all(_met(m, TARGETS["rvi_mean_mm"], "<=") for m in rvi_means),
            "false_rate<=0.05": _met(out["false_insertion_rate"], TARGETS["false_rate"], "<="),
            "swap_rate<=0.01": _met(out["swap_rate"], TARGETS["swap_rate"], "<="),
            "lvc_mean_mm<=2.5": _met(per["LVC"]["mean_mm"], TARGETS["lvc_mean_mm"], "<="),
            "lvc_found>=0.98": _met(per["LVC"]["found"], TARGETS["lvc_found"], ">="),
        }
        return out


def _r(v) -> float:
    return round(float(v), 4)


def _met(value, target, how) -> bool:
    if value is None:
        return False
    return bool(value >= target) if how == ">=" else bool(value <= target)


def report_markdown(title: str, s: dict) -> str:
    """Table 1 / Table 2 layouts (mm) and the detection table, as markdown."""
    lines = [f"# {title}", "", f"{s['stacks']} stacks, {s['slices']} slices", "",
             "| Landmark | Error (mm), mean ± std | Median (mm) | N | Found | > 10 mm | > 20 mm |",
             "|---|---|---|---|---|---|---|"]
    for n, r in s["per_landmark"].items():
        if not r["n"]:
            continue
        mean = "–" if r["mean_mm"] is None else f"{r['mean_mm']:.2f} ± {r['std_mm']:.2f}"
        med = "–" if r["median_mm"] is None else f"{r['median_mm']:.2f}"
        lines.append(f"| {n} | {mean} | {med} | {r['n']} | {100 * r['found']:.1f} % | {r['over_10mm']} | "
                     f"{r['over_20mm']} |")
    lines += ["", "| Landmark | ≤ 2 mm (%) | ≤ 3 mm (%) | ≤ 5 mm (%) | N |", "|---|---|---|---|---|"]
    for n, r in s["per_landmark"].items():
        if r["n"]:
            cells = " | ".join(f"{100 * r[f'within_{t:g}mm']:.1f}" for t in THRESHOLDS_MM)
            lines.append(f"| {n} | {cells} | {r['n']} |")

    def pct(v):
        return "–" if v is None else f"{100 * v:.1f} %"

    lines += ["", "| RV insertions and LV centre | value |", "|---|---|",
              f"| both insertions found, slices whose masks give both ({s['rvi_slices_with_both']}) | "
              f"{pct(s['rvi_pair_rate'])} |",
              f"| false insertions, slices whose masks give none ({s['rvi_slices_with_none']}) | "
              f"{pct(s['false_insertion_rate'])} |",
              f"| identity swaps, of pairs found | {pct(s['swap_rate'])} ({s['swaps']}) |",
              f"| false LV centres, slices without LV cavity ({s['slices_without_lv']}) | {pct(s['false_lvc_rate'])} |",
              f"| most basal / apical LV slice named BCA / ACA by the pipeline | {pct(s['ends_named']['BCA'])} / "
              f"{pct(s['ends_named']['ACA'])} |",
              "", "Targets: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in s["targets"].items())]
    return "\n".join(lines) + "\n"


def _reference_points(mask, labels, anterior_xy, source) -> list:
    """Per-slice :class:`SegmentationPoints` of a mask stack, named as ``from-segmentation`` names them.

    :func:`~heatmap_landmarks.cardiac.segmentation.detections_from_labels` is the one home of that naming: with
    ``anterior_xy`` None the header's orientation decides (oriented stacks by the insertions' turn round the
    LV, which M&Ms-2's turned header cannot swap), else that stated in-plane direction (ACDC: up).
    """
    from heatmap_landmarks.cardiac.segmentation import SegmentationPoints, detections_from_labels

    det = detections_from_labels(lambda t: (np.rint(mask.array).astype(np.int64), mask.geometry), 1, view="sax",
                                 labels=labels, anterior_xy=anterior_xy, source=source)
    refs = []
    for z in range(det.points.shape[1]):
        ref = SegmentationPoints()
        for k, name in enumerate(det.names):
            if np.isfinite(det.points[0, z, k]).all():
                ref.points[name] = det.points[0, z, k].astype(np.float64)
        refs.append(ref)
    return refs


def evaluate(weights: str, stacks, *, rotations: int | None = None, device: str = "cpu", progress=None) -> Scores:
    from heatmap_landmarks.cardiac import detect_cardiac, load_predictors

    predictor = load_predictors("sax", weights, device=device, rotations=rotations)["sax"]
    scores = Scores()
    stacks = list(stacks)
    for i, (stem, image_path, mask_path, labels, anterior) in enumerate(stacks):
        image = read_image(image_path, rgb="grey")
        mask = read_image(mask_path, rgb="grey")
        if mask.array.shape != image.array.shape:
            raise InputError(mask_path, f"mask shape {mask.array.shape} differs from the image's {image.array.shape}")
        geometry = image.geometry
        ref = _reference_points(mask, labels, None if anterior == "geometry" else ANTERIOR_UP, str(mask_path))
        volume = image.array
        det = detect_cardiac(lambda t, v=volume, g=geometry: (v, g), 1, predictor, view="sax", source=str(image_path))
        scores.add_stack(stem, det, ref, geometry.spacing[:2])
        if progress:
            progress(i + 1, len(stacks))
    return scores


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.cardiac.evaluate_sax_real", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", required=True, help="model card (.json) or catalogue key")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--acdc", metavar="ROOT", help="ACDC training folder (patientNNN/ with _gt masks)")
    src.add_argument("--mnms2", metavar="FOLDER", help="one M&Ms-2 patient folder (NNN_SA_ED/ES with _gt)")
    p.add_argument("--split-config", help="training config whose stratified split chooses the patients (ACDC)")
    p.add_argument("--part", choices=("train", "val", "test", "all"), default="test")
    p.add_argument("--rotations", type=int, choices=(1, 2, 4), help="test-time rotations (default: the card's)")
    p.add_argument("--out", required=True)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--record-in-card", metavar="KEY", help="store the summary in the card's metrics[KEY]")
    args = p.parse_args(argv)
    return _run(args, argv)


def _run(args, argv) -> int:
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # ACDC's "unexpected scales in sform" on every file
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out)
    refuse_overwrite(out / "summary.json", args.overwrite)
    if args.acdc:
        root = Path(args.acdc)
        if args.part == "all":
            patients = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.startswith("patient"))
        else:
            if not args.split_config:
                raise InputError(None, "--split-config is needed to choose the --part of ACDC")
            patients = acdc_split(root, args.split_config)[args.part]
        stacks = list(_stacks_acdc(root, patients))
        data = f"ACDC {root}, {args.part} patients ({len(patients)}): {', '.join(patients)}"
    else:
        stacks = list(_stacks_mnms2(Path(args.mnms2)))
        data = f"M&Ms-2 {args.mnms2}: short-axis ED and ES (real scanner geometry)"
    t0 = time.perf_counter()
    scores = evaluate(args.weights, stacks, rotations=args.rotations)
    summary = scores.summary()
    summary.update({"weights": args.weights, "data": data, "rotations": args.rotations,
                    "seconds": round(time.perf_counter() - t0, 1),
                    "reference": "landmarks from the expert masks (heatmap_landmarks.cardiac.segmentation)",
                    "command": "python -m training.cardiac.evaluate_sax_real " + " ".join(argv if argv is not None
                                                                                  else sys.argv[1:])})
    out.mkdir(parents=True, exist_ok=True)
    text = report_markdown(f"{Path(args.weights).stem} on {data.split(':')[0]}", summary)
    (out / "report.md").write_text(text + "\n" + data + "\n", encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    from heatmap_landmarks.metrics import write_csv

    write_csv(scores.rows, out / "per_landmark.csv", overwrite=True)
    if args.record_in_card:
        from .evaluate import record_in_card

        entry = {k: summary[k] for k in ("data", "stacks", "slices", "per_landmark", "rvi_pair_rate",
                                        "false_insertion_rate", "swap_rate", "false_lvc_rate", "ends_named",
                                        "targets", "command", "rotations")}
        record_in_card(Path(args.weights), args.record_in_card, entry)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
