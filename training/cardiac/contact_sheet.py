"""A contact sheet of a short-axis model on real images: the Kaggle DICOMs and M&Ms-2 patient 001.

    python -m training.cardiac.contact_sheet --weights heatmap_landmarks/weights/cardiac_sax.json \\
        --realdata ../shared/realdata --out Resources/Screenshots/cardiac_real_sax.png

Each tile is one real slice through the product path (:func:`detect_cardiac`
with the file's geometry): the Inferno heatmap, the detected points as coloured
dots (RVI-1 red, RVI-2 green, LV centre blue) and, where the image has expert
masks (M&Ms-2), the mask-derived points as white rings. The tiles are cropped
to the middle of each image and scaled to one size. The Kaggle images have no
labels: the sheet is for looking, not scoring.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from heatmap_landmarks.io import read_image
from heatmap_landmarks.cardiac.segmentation import MNMS2_LABELS, anterior_direction_xy, sax_landmarks_from_labels

COLOURS = {"RVI-1": (255, 60, 60), "RVI-2": (60, 255, 60), "LVC": (80, 160, 255), "BCA": (80, 160, 255),
           "ACA": (80, 160, 255)}
TILE = 192


def _tile(image2d, heat2d, points: dict, reference: dict, caption: str) -> np.ndarray:
    import cv2

    from heatmap_landmarks.render import render_overlay

    lo, hi = np.percentile(image2d, (1, 99))
    grey = np.clip((image2d - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    h, w = grey.shape
    side = int(min(h, w) * 0.7)
    y0, x0 = (h - side) // 2, (w - side) // 2
    over = render_overlay(rgb, heat2d, np.zeros((0, 2)), [], opacity=0.5)
    scale = TILE / side
    tile = cv2.resize(np.ascontiguousarray(over[y0:y0 + side, x0:x0 + side]), (TILE, TILE),
                      interpolation=cv2.INTER_AREA)
    for name, (x, y) in reference.items():
        cv2.circle(tile, (int(round((x - x0) * scale)), int(round((y - y0) * scale))), 6, (255, 255, 255), 1,
                   cv2.LINE_AA)
    for name, (x, y) in points.items():
        if np.isfinite(x):
            cv2.circle(tile, (int(round((x - x0) * scale)), int(round((y - y0) * scale))), 3,
                       COLOURS.get(name, (255, 255, 0)), -1, cv2.LINE_AA)
    cv2.putText(tile, caption[:28], (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (255, 255, 0), 1, cv2.LINE_AA)
    return tile


def _detect(predictor, volume, geometry, source):
    from heatmap_landmarks.cardiac import detect_cardiac

    heat = []
    det = detect_cardiac(lambda t: (volume, geometry), 1, predictor, view="sax", source=source,
                         on_heatmap=lambda t, h, g: heat.append(h))
    return det, heat[0]


def build_sheet(weights: str, realdata: Path, *, columns: int = 6) -> np.ndarray:
    """``(rows * TILE, columns * TILE, 3)`` uint8 RGB sheet."""
    from heatmap_landmarks.cardiac import load_predictors

    predictor = load_predictors("sax", weights)["sax"]
    tiles = []
    for path in sorted((realdata / "kaggle_dsb_sax").glob("*.dcm")):
        img = read_image(path, rgb="grey")
        det, heat = _detect(predictor, img.array, img.geometry, str(path))
        pts = {str(det.labels[0, 0, k]): det.points[0, 0, k] for k in range(len(det.names))}
        tiles.append(_tile(img.array[0], heat[0], pts, {}, path.stem))
    folder = realdata / "mnms2" / "001"
    if folder.is_dir():
        img = read_image(folder / "001_SA_ED.nii.gz", rgb="grey")
        mask = read_image(folder / "001_SA_ED_gt.nii.gz", rgb="grey").array
        det, heat = _detect(predictor, img.array, img.geometry, "M&Ms-2 001 SA ED")
        ant = anterior_direction_xy(img.geometry.direction, img.geometry.spacing[:2])
        z_count = img.array.shape[0]
        for z in np.linspace(1, z_count - 2, 3).round().astype(int):
            ref = sax_landmarks_from_labels(np.rint(mask[z]).astype(int), MNMS2_LABELS, anterior_xy=ant)
            pts = {str(det.labels[0, z, k]): det.points[0, z, k] for k in range(len(det.names))}
            tiles.append(_tile(img.array[z], heat[z], pts, ref.points, f"M&Ms-2 001 ED z{z}"))
    while len(tiles) % columns:
        tiles.append(np.zeros((TILE, TILE, 3), np.uint8))
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    return np.vstack(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.cardiac.contact_sheet", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", required=True)
    p.add_argument("--realdata", required=True, help="the real-data folder (kaggle_dsb_sax/, mnms2/)")
    p.add_argument("--out", required=True, help="PNG to write")
    args = p.parse_args(argv)
    import cv2
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    sheet = build_sheet(args.weights, Path(args.realdata))
    if not cv2.imwrite(args.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        print(f"error: {args.out}: cannot be written", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
