"""Long axis on the real M&Ms-2 patient 001: the shipped LAX model against the mitral hinges of the expert masks.

    .venv/bin/python -m training.cardiac.evaluate_lax_mnms2 [--patient DIR] [--weights CARD] [--sigmas 0,0.5,1,1.5,2,3]
        [--phantom-seeds 90000:90012] [--overlay /tmp/mnms2_lax.png] [--json FILE]

What it does (``--patient`` defaults to ``<realdata>/mnms2/001``, see
:func:`heatmap_landmarks.testing.realdata_root`):

1. **Reference.** MV-1 (septal) and MV-2 (lateral) of ``001_LA_ED_gt`` and
   ``001_LA_ES_gt`` (M&Ms-2 labels 1 LV, 2 myocardium, 3 RV) through
   :func:`heatmap_landmarks.cardiac.segmentation.detections_from_labels`, the core that
   ``heatmap-landmarks from-segmentation --view lax --labels 3,2,1`` runs.
2. **Which cine frames are ED and ES.** The 4-chamber cine ``001_LA_CINE`` is
   compared voxel by voxel with the ED and ES images, and their geometries are
   compared; a frame identical to the ED (ES) image on the same grid inherits
   that mask's reference points.
3. **The product path.** :func:`heatmap_landmarks.cardiac.load_predictors` (the
   shipped card unless ``--weights``) and
   :func:`heatmap_landmarks.cardiac.detect_cardiac`, exactly as
   ``heatmap-landmarks cardiac --view lax`` runs them, on the ED image, the ES
   image and the whole cine. Errors are RAS distances in mm.
4. **Jitter over the cycle.** For each hinge, the displacement between
   consecutive cine frames (mean, max, mm) and the second difference
   ``|p[t+1] - 2 p[t] + p[t-1]|`` (mean, max, mm) as a smoothness measure, over
   the frames (pairs, triples) where the hinge was found.
5. **Temporal smoothing.** The network's per-landmark heatmaps of all cine
   frames (network grid, the card's test-time rotations) are averaged over
   neighbouring frames with :func:`heatmap_landmarks.heatmaps.smooth_over_time`
   (Gaussian, ``sigma`` in frames, cyclic: the cine covers one cardiac cycle)
   and decoded with the card's decoder. ``sigma = 0`` must reproduce step 3
   exactly (checked). ``sigma`` is chosen on phantom 4-chamber cines (validation
   seeds, ``wide`` randomisation, 25 frames) by the capped error score (mean of
   min(error, 20 mm), a miss counting 20 mm; ties go to the smaller sigma), then
   checked on the real cine.

6. **Mirrored input.** Every run is repeated on the images mirrored left-right
   (columns reversed, the geometry's column axis reversed with them, so every
   voxel keeps its RAS position and errors stay comparable): the phantoms the
   model was trained on are never mirrored, so it knows one handedness of the
   4-chamber view only.

Prints markdown tables; ``--overlay`` saves a picture of a few cine frames (as
stored) with the mask hinges (green crosses, at ED/ES), the shipped detection
(cyan dots), the shipped detection on the mirrored frames mapped back (yellow
dots) and that one with temporal smoothing (magenta rings). The real images are
read in place and never copied.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from heatmap_landmarks.cardiac import detect_cardiac, load_predictors
from heatmap_landmarks.cardiac.pipeline import image_volumes
from heatmap_landmarks.errors import InputError
from heatmap_landmarks.geometry import Geometry
from heatmap_landmarks.heatmaps import smooth_over_time
from heatmap_landmarks.io import Image, read_image
from heatmap_landmarks.preprocess import prepare_cardiac
from heatmap_landmarks.cardiac.segmentation import MNMS2_LABELS, detections_from_labels
from heatmap_landmarks.testing import realdata_root

NAMES = ("MV-1", "MV-2")
#: Capped error (mm) of the sigma choice; a miss counts this much.
CAP_MM = 20.0


# ---------------------------------------------------------------------------
# reference and frame matching
# ---------------------------------------------------------------------------
def reference_hinges(label_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``((2, 2) px (x, y), (2, 3) RAS mm)`` of MV-1, MV-2 from one 2D M&Ms-2 label map; NaN where absent."""
    labels = read_image(label_path)
    volume_at, n_times = image_volumes(labels)
    det = detections_from_labels(volume_at, n_times, view="lax", labels=MNMS2_LABELS, source=str(label_path))
    return det.points[0, 0].astype(np.float64), det.ras[0, 0]


def match_frame(cine, image) -> dict:
    """Which cine frame holds the same pixels as ``image`` (one 2D frame), on the same grid.

    Returns ``{"frame": index or None, "max_abs_diff": (T,) list, "same_geometry": bool}``.
    """
    diffs = [float(np.abs(cine.array[t] - image.array[0]).max()) for t in range(cine.n_frames)]
    same_geometry = bool(cine.geometry.almost_equal(image.geometry, atol=1e-4)
                         and cine.array.shape[1:] == image.array.shape[1:])
    best = int(np.argmin(diffs))
    return {"frame": best if diffs[best] == 0.0 and same_geometry else None, "max_abs_diff": diffs,
            "same_geometry": same_geometry}


def mirrored(image: Image) -> Image:
    """The image with its columns reversed and its geometry's column axis reversed too: every voxel keeps its
    RAS position, so points found on it are compared in RAS as they are."""
    g = image.geometry
    width = image.shape_hw[1]
    geometry = Geometry(spacing=g.spacing, origin=g.pixel_to_ras([[width - 1.0, 0.0, 0.0]])[0],
                        direction=g.direction @ np.diag([-1.0, 1.0, 1.0]))
    return Image(np.ascontiguousarray(image.array[:, :, ::-1]), geometry, image.kind, image.source)


# ---------------------------------------------------------------------------
# the model, with or without temporal smoothing
# ---------------------------------------------------------------------------
def network_heatmaps(predictor, frames: np.ndarray, spacing_xy) -> tuple[np.ndarray, object]:
    """``(T, C, h, w)`` float32 network-grid heatmaps of ``(T, H, W)`` frames, and the preprocessing transform.

    The steps of :meth:`heatmap_landmarks.cardiac.CardiacPredictor.predict_cardiac` up to decoding: the card's
    preprocessing of the whole stack at once, forward passes in batches with its test-time rotations.
    """
    card = predictor.card
    norm = card.normalisation or {}
    net, transform = prepare_cardiac(frames, spacing_xy, target_spacing_mm=card.input_spacing_mm,
                                     size=tuple(card.input_size),
                                     percentiles=(norm.get("low", 1.0), norm.get("high", 99.0)))
    out = []
    for start in range(0, net.shape[0], predictor.batch_size):
        out.append(predictor.forward_averaged(net[start:start + predictor.batch_size, None]))
    return np.concatenate(out, axis=0), transform


def decode_frames(predictor, heatmaps: np.ndarray, transform, shape_hw) -> tuple[np.ndarray, np.ndarray]:
    """``(T, C, h, w)`` heatmaps -> ``((T, L, 2) px (x, y) of the original frames, (T, L) confidence)``.

    The card's decoder and the inverse preprocessing, as ``predict_cardiac`` applies them (a point in the
    padding outside the image is dropped). A single-heatmap card's ambiguous frames are not re-named from
    their neighbours here (``detect_cardiac`` does that); the shipped LAX card has one channel per landmark.
    """
    names = predictor.names
    height, width = shape_hw
    points = np.full((heatmaps.shape[0], len(names), 2), np.nan)
    conf = np.zeros((heatmaps.shape[0], len(names)))
    for t, hm in enumerate(heatmaps):
        p, c = predictor.decoder.decode(hm)
        p = transform.to_original(p)
        outside = ~((p[:, 0] >= -0.5) & (p[:, 0] <= width - 0.5) & (p[:, 1] >= -0.5) & (p[:, 1] <= height - 0.5))
        p[outside] = np.nan
        points[t], conf[t] = p, np.where(outside, 0.0, c)
    return points, conf


# ---------------------------------------------------------------------------
# measures
# ---------------------------------------------------------------------------
def track_stats(ras: np.ndarray) -> dict:
    """Jitter of one hinge track ``(T, 3)`` mm (NaN = not found): steps between consecutive frames and second
    differences, over the pairs/triples where it was found (not round the cycle)."""
    found = np.isfinite(ras[:, 0])
    steps = [float(np.linalg.norm(ras[t + 1] - ras[t])) for t in range(len(ras) - 1) if found[t] and found[t + 1]]
    second = [float(np.linalg.norm(ras[t + 1] - 2 * ras[t] + ras[t - 1])) for t in range(1, len(ras) - 1)
              if found[t - 1] and found[t] and found[t + 1]]

    def stat(values, fn):
        return float(fn(values)) if values else float("nan")

    return {"found": int(found.sum()), "n": int(len(ras)), "mean_step_mm": stat(steps, np.mean),
            "max_step_mm": stat(steps, np.max), "mean_second_diff_mm": stat(second, np.mean),
            "max_second_diff_mm": stat(second, np.max)}


def distance(a, b) -> float:
    """mm between two RAS points; NaN when either is missing."""
    d = float(np.linalg.norm(np.asarray(a, float) - np.asarray(b, float)))
    return d if math.isfinite(d) else float("nan")


# ---------------------------------------------------------------------------
# choosing sigma on phantoms
# ---------------------------------------------------------------------------
def phantom_scores(predictor, sigmas, seeds, *, n_frames: int = 25) -> list[dict]:
    """Per sigma: error and jitter of the smoothed detection on phantom 4-chamber cines (exact truth)."""
    from heatmap_landmarks.phantoms import make_cardiac_cine

    errors = {s: [] for s in sigmas}
    tracks = {s: [] for s in sigmas}
    truth_steps = []
    for seed in seeds:
        cine = make_cardiac_cine(seed, view="lax", n_frames=n_frames, lax_view="4ch", randomisation="wide")
        frames = cine.frames[:, 0]
        spacing = np.asarray(cine.spacing[:2], dtype=np.float64)
        heat, transform = network_heatmaps(predictor, frames, spacing)
        for name in NAMES:
            truth = cine.landmarks[name][:, 0]
            truth_steps.append(np.linalg.norm(np.diff(truth, axis=0) * spacing, axis=1).mean())
        for s in sigmas:
            pts, _ = decode_frames(predictor, smooth_over_time(heat, s, cyclic=True), transform, frames.shape[1:])
            for i, name in enumerate(NAMES):
                truth = cine.landmarks[name][:, 0]
                errors[s].extend(np.hypot(*((pts[:, i] - truth) * spacing).T).tolist())
                mm = np.column_stack([pts[:, i] * spacing, np.zeros(len(pts))])  # in-plane mm, z = 0
                tracks[s].append(track_stats(mm))
    rows = []
    for s in sigmas:
        e = np.asarray(errors[s])
        missed = ~np.isfinite(e)
        capped = np.where(missed, CAP_MM, np.minimum(e, CAP_MM))
        rows.append({"sigma": s, "n": int(e.size), "missed": int(missed.sum()),
                     "mean_mm": float(np.nanmean(e)), "within_5mm": float(np.mean(np.where(missed, False, e <= 5.0))),
                     "score_mm": float(capped.mean()),
                     "mean_step_mm": float(np.nanmean([t["mean_step_mm"] for t in tracks[s]])),
                     "mean_second_diff_mm": float(np.nanmean([t["mean_second_diff_mm"] for t in tracks[s]])),
                     "truth_mean_step_mm": float(np.mean(truth_steps))})
    return rows


# ---------------------------------------------------------------------------
# overlay
# ---------------------------------------------------------------------------
#: (RGB colour, marker) of each kind of point in the overlay.
MARKERS = {"masks": ((0, 255, 0), "cross"), "shipped": ((0, 255, 255), "dot"),
           "mirrored": ((255, 255, 0), "dot"), "smoothed": ((255, 0, 255), "ring")}


def overlay_picture(cine, frames: list, points: dict, phase_names: dict, legend: str, *,
                    tile: int = 300) -> np.ndarray:
    """``(rows * tile, 4 * tile, 3)`` uint8 RGB: the chosen cine frames (as stored), cropped round the hinges.

    ``points``: kind (:data:`MARKERS`) -> ``{frame: (2, 2) px (x, y) of MV-1, MV-2}``.
    """
    import cv2

    every = np.concatenate([p for kind in points.values() for p in kind.values()]).reshape(-1, 2)
    every = every[np.isfinite(every).all(axis=1)]
    ref = np.concatenate(list(points["masks"].values())).reshape(-1, 2)
    centre = np.median(ref if len(ref) else every, axis=0)
    size = 112
    x0, y0 = int(round(centre[0] - size / 2)), int(round(centre[1] - size / 2))
    scale = tile / size
    low, high = (float(v) for v in np.percentile(cine.array, (1.0, 99.0)))
    cols = 4
    sheet = np.zeros((int(math.ceil(len(frames) / cols)) * tile + 24, cols * tile, 3), np.uint8)

    def to_tile(xy):
        return tuple(int(round((v - o + 0.5) * scale - 0.5)) for v, o in zip(xy, (x0, y0)))

    for i, t in enumerate(frames):
        crop = np.zeros((size, size), np.float32)
        h, w = cine.array.shape[1:]
        ys, xs = slice(max(0, y0), min(h, y0 + size)), slice(max(0, x0), min(w, x0 + size))
        crop[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0] = cine.array[t, ys, xs]
        grey = np.clip((crop - low) / max(high - low, 1e-6), 0.0, 1.0)
        grey = cv2.resize(grey, (tile, tile), interpolation=cv2.INTER_CUBIC)
        image = np.ascontiguousarray(np.repeat(np.round(np.clip(grey, 0, 1) * 255).astype(np.uint8)[..., None], 3, 2))
        for kind, by_frame in points.items():
            colour, marker = MARKERS[kind]
            for j, p in enumerate(by_frame.get(t, [])):
                if not np.isfinite(p).all():
                    continue
                c = to_tile(p)
                if marker == "cross":
                    cv2.drawMarker(image, c, colour, cv2.MARKER_CROSS, 16, 2, cv2.LINE_AA)
                elif marker == "ring":
                    cv2.circle(image, c, 8, colour, 2, cv2.LINE_AA)
                else:
                    cv2.circle(image, c, 4, colour, -1, cv2.LINE_AA)
                if kind in ("shipped", "mirrored"):
                    cv2.putText(image, NAMES[j][-1], (c[0] + 6, c[1] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1,
                                cv2.LINE_AA)
        title = f"frame {t}" + (f" ({phase_names[t]})" if t in phase_names else "")
        cv2.putText(image, title, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
        y, x = (i // cols) * tile, (i % cols) * tile
        sheet[y:y + tile, x:x + tile] = image
    cv2.putText(sheet, legend, (6, sheet.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1,
                cv2.LINE_AA)
    return sheet


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------
def _fmt(v, digits: int = 1) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def _seeds(text: str) -> range:
    a, b = (int(v) for v in text.split(":"))
    return range(a, b)


def run_orientation(predictor, images: dict, cine: Image, sigmas) -> dict:
    """The product path on the ED/ES images and the cine, and the cine decoded after smoothing with each sigma.

    Returns ``{"ED": (2, 3) RAS, "ES": (2, 3) RAS, "cine": CardiacDetections, "px": {sigma: (T, 2, 2)},
    "ras": {sigma: (T, 2, 3)}}``.
    """
    out: dict = {"px": {}, "ras": {}}
    for k, image in (("ED", images["ED"]), ("ES", images["ES"]), ("cine", cine)):
        volume_at, n_times = image_volumes(image)
        det = detect_cardiac(volume_at, n_times, predictor, view="lax", source=image.source)
        out[k] = det if k == "cine" else det.ras[0, 0]
    heat, transform = network_heatmaps(predictor, cine.array, cine.spacing_xy)
    for s in sigmas:
        pts, _ = decode_frames(predictor, smooth_over_time(heat, s, cyclic=True), transform, cine.shape_hw)
        out["px"][s] = pts
        out["ras"][s] = np.stack([cine.points_to_ras(pts[t], t) for t in range(cine.n_frames)])
    if not np.allclose(out["px"][0.0], out["cine"].points[:, 0], atol=1e-4, equal_nan=True):
        raise AssertionError("sigma 0 does not reproduce detect_cardiac on the cine")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patient", default=str(realdata_root() / "mnms2" / "001"),
                        help="M&Ms-2 patient folder with 001_LA_{ED,ES}[_gt].nii.gz and 001_LA_CINE.nii.gz")
    parser.add_argument("--weights", default=None, help="LAX model card (default: the shipped cardiac_lax)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--sigmas", default="0,0.5,1,1.5,2,3", help="temporal sigmas (frames) to try")
    parser.add_argument("--phantom-seeds", default="90000:90012",
                        help="phantom LAX cines for the sigma choice (validation seeds; default 90000:90012)")
    parser.add_argument("--overlay", default=None, help="save a PNG of a few cine frames with the points")
    parser.add_argument("--json", default=None, help="write all numbers to this JSON file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    folder = Path(args.patient)
    files = {k: folder / f"001_LA_{k}.nii.gz" for k in ("ED", "ES", "ED_gt", "ES_gt", "CINE")}
    for path in files.values():
        if not path.is_file():
            print(f"evaluate_lax_mnms2: error: {path}: missing (the real data lives only in shared/realdata)",
                  file=sys.stderr)
            return 2
    sigmas = sorted({0.0, *(float(v) for v in args.sigmas.split(","))})

    cine = read_image(files["CINE"])
    if cine.kind != "2d+t":
        raise InputError(files["CINE"], f"expected a 2D+t cine, got {cine.kind}")
    images = {k: read_image(files[k]) for k in ("ED", "ES")}
    refs = {k: reference_hinges(files[f"{k}_gt"]) for k in ("ED", "ES")}
    matches = {k: match_frame(cine, images[k]) for k in ("ED", "ES")}

    weights = {"lax": args.weights} if args.weights else None
    predictor = load_predictors("lax", weights, device=args.device)["lax"]
    runs = {"as stored": run_orientation(predictor, images, cine, sigmas),
            "mirrored": run_orientation(predictor, {k: mirrored(v) for k, v in images.items()}, mirrored(cine),
                                        sigmas)}
    phantom = phantom_scores(predictor, sigmas, _seeds(args.phantom_seeds))
    chosen = min(phantom, key=lambda r: (round(r["score_mm"], 3), r["sigma"]))["sigma"]

    # ---- report
    out = {"patient": str(folder), "weights": str(predictor.weights_path), "rotations": predictor.rotations,
           "matches": matches, "sigmas": sigmas, "chosen_sigma": chosen, "phantom": phantom, "errors": [],
           "jitter": []}
    print(f"# Long axis on M&Ms-2 patient 001 ({predictor.weights_path.name}, {predictor.rotations} "
          f"test-time rotation(s))\n")
    for k in ("ED", "ES"):
        m = matches[k]
        others = [d for i, d in enumerate(m["max_abs_diff"]) if i != m["frame"]]
        print(f"- {k} image = cine frame {m['frame']}: identical voxels there (max |difference| "
              f"{m['max_abs_diff'][m['frame']]:g}; at least {min(others):.0f} in every other frame), same geometry: "
              f"{m['same_geometry']}")
    print(f"- annulus diameter from the masks: ED {distance(*refs['ED'][1]):.1f} mm, ES {distance(*refs['ES'][1]):.1f} mm")
    print(f"- σ chosen on phantom cines (seeds {args.phantom_seeds}, 4-chamber, wide, 25 frames): {chosen:g} frame(s)\n")

    print("## Error against the hinges of the expert masks (mm)\n")
    print("| input | run | frame | MV-1 | MV-2 | annulus diameter, masks → detected |")
    print("|---|---|---|---|---|---|")
    for orientation, run in runs.items():
        rows = [(f"{k} image alone", "shipped", k, run[k], refs[k][1]) for k in ("ED", "ES")]
        for s in sorted({0.0, chosen}):
            for k in ("ED", "ES"):
                t = matches[k]["frame"]
                if t is not None:
                    rows.append(("cine", "shipped" if s == 0 else f"smoothed σ {s:g}", f"{k} = {t}",
                                 run["ras"][s][t], refs[k][1]))
        for what, how, frame, det, ref in rows:
            e = [distance(det[i], ref[i]) for i in range(2)]
            print(f"| {what}, {orientation} | {how} | {frame} | {_fmt(e[0])} | {_fmt(e[1])} | "
                  f"{distance(*ref):.1f} → {_fmt(distance(*det))} |")
            out["errors"].append({"input": f"{what}, {orientation}", "run": how, "frame": frame, "MV-1_mm": e[0],
                                  "MV-2_mm": e[1], "diameter_masks_mm": distance(*ref),
                                  "diameter_detected_mm": distance(*det)})

    print(f"\n## Frame-to-frame jitter over the {cine.n_frames}-frame cine (mm)\n")
    print("| input | σ (frames) | hinge | found | mean step | max step | mean 2nd diff | max 2nd diff |")
    print("|---|---|---|---|---|---|---|---|")
    for orientation, run in runs.items():
        for s in sigmas:
            for i, name in enumerate(NAMES):
                st = track_stats(run["ras"][s][:, i])
                tag = f"{s:g}" + (" (shipped)" if s == 0 else "") + (" (chosen)" if s == chosen and s else "")
                print(f"| {orientation} | {tag} | {name} | {st['found']}/{st['n']} | {_fmt(st['mean_step_mm'])} | "
                      f"{_fmt(st['max_step_mm'])} | {_fmt(st['mean_second_diff_mm'])} | "
                      f"{_fmt(st['max_second_diff_mm'])} |")
                out["jitter"].append({"input": orientation, "sigma": s, "name": name, **st})

    print(f"\n## Choice of σ on phantom 4-chamber cines (seeds {args.phantom_seeds}, exact truth)\n")
    print("| σ (frames) | mean error (mm) | ≤ 5 mm | missed | score (mm) | mean step (truth's) | mean 2nd diff |")
    print("|---|---|---|---|---|---|---|")
    for r in phantom:
        print(f"| {r['sigma']:g} | {r['mean_mm']:.2f} | {100 * r['within_5mm']:.1f} % | {r['missed']}/{r['n']} | "
              f"{r['score_mm']:.2f} | {r['mean_step_mm']:.2f} ({r['truth_mean_step_mm']:.2f}) | "
              f"{r['mean_second_diff_mm']:.2f} |")

    if args.overlay:
        import cv2

        phase_names = {matches[k]["frame"]: k for k in ("ED", "ES") if matches[k]["frame"] is not None}
        width = cine.shape_hw[1]

        def back(px):  # mirrored-run pixels -> pixels of the cine as stored
            return px * [-1.0, 1.0] + [width - 1.0, 0.0]

        kinds = {"masks": {t: refs[k][0] for t, k in phase_names.items()},
                 "shipped": dict(enumerate(runs["as stored"]["px"][0.0])),
                 "mirrored": dict(enumerate(back(runs["mirrored"]["px"][0.0]))),
                 "smoothed": dict(enumerate(back(runs["mirrored"]["px"][chosen])))}
        picks = sorted({0, 4, 12, 16, 20, *phase_names, 2})[:8]
        legend = (f"green +: masks (ED/ES)  cyan: shipped, as stored  yellow: shipped, mirrored input  "
                  f"magenta o: mirrored + smoothed over time (sigma {chosen:g})")
        sheet = overlay_picture(cine, picks, kinds, phase_names, legend)
        cv2.imwrite(args.overlay, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        print(f"\nOverlay: {args.overlay} (frames {', '.join(map(str, picks))})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=float))
    print(f"\nDone in {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
