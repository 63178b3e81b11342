"""Pictures of results: a heatmap blended over an image with its points drawn, and contact sheets of frames.

Used by the command line (suture overlays, cardiac contact sheets) and the
training reports. OpenCV is imported on first use.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["POINT_COLOUR_RGB", "SHEET_MAX_TILES", "SHEET_TILE", "contact_sheet", "greyscale_rgb", "render_overlay"]

#: Points and labels: cyan stands out on tissue and on inferno.
POINT_COLOUR_RGB = (0, 255, 255)
#: Contact sheets show at most this many frames (evenly sampled).
SHEET_MAX_TILES = 36
#: Longest side of one contact-sheet tile, pixels.
SHEET_TILE = 256


def render_overlay(rgb, heatmap, points, labels=None, *, opacity: float = 0.6) -> np.ndarray:
    """Frame with the heatmap blended in (OpenCV's inferno) and the points drawn.

    Args:
        rgb: ``(H, W, 3)`` float RGB in [0, 1].
        heatmap: ``(H, W)`` float in [0, 1] (None: points only).
        points: ``(M, 2)`` (x, y) pixels; labels: M strings (default S-1..S-M).
        opacity: heatmap opacity where the heatmap is 1; it fades with the
            heatmap value, so background stays visible.

    Returns:
        ``(H, W, 3)`` uint8 RGB.

    >>> img = render_overlay(np.zeros((20, 30, 3), np.float32), np.zeros((20, 30), np.float32), [[10, 5]])
    >>> img.shape, img.dtype, tuple(int(v) for v in img[5, 10])
    ((20, 30, 3), dtype('uint8'), (0, 255, 255))
    """
    import cv2

    from .sutures.names import suture_labels

    base = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0)
    out = base.copy()
    if heatmap is not None:
        heat = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
        colours = cv2.applyColorMap(np.round(heat * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
        colours = cv2.cvtColor(colours, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        alpha = (float(opacity) * heat)[..., None]
        out = (1.0 - alpha) * base + alpha * colours
    image = np.ascontiguousarray(np.round(out * 255).astype(np.uint8))
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    labels = suture_labels(len(pts)) if labels is None else list(labels)
    scale = max(image.shape[:2]) / 600.0
    radius = max(2, int(round(4 * scale)))
    for (x, y), label in zip(pts, labels):
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        centre = (int(round(x)), int(round(y)))
        cv2.circle(image, centre, radius, POINT_COLOUR_RGB, -1, lineType=cv2.LINE_AA)
        cv2.putText(image, str(label), (centre[0] + radius + 1, centre[1] - radius - 1), cv2.FONT_HERSHEY_SIMPLEX,
                    max(0.3, 0.4 * scale), POINT_COLOUR_RGB, 1, lineType=cv2.LINE_AA)
    return image


def greyscale_rgb(frame: np.ndarray, low: float, high: float) -> np.ndarray:
    """``(H, W)`` grey -> ``(H, W, 3)`` float32 RGB in [0, 1], window ``low``..``high``."""
    scaled = np.clip((frame.astype(np.float32) - low) / max(high - low, 1e-6), 0.0, 1.0)
    return np.repeat(scaled[..., None], 3, axis=2)


def contact_sheet(frames: np.ndarray, heatmaps: np.ndarray, rows: list[dict], *, opacity: float = 0.6,
                  max_tiles: int = SHEET_MAX_TILES, tile: int = SHEET_TILE) -> np.ndarray:
    """One RGB image showing the frames with heatmaps and labelled points.

    Args:
        frames: ``(F, H, W)`` grey; heatmaps: ``(F, H, W)`` in [0, 1].
        rows: dicts with ``frame`` (index into ``frames``), ``label``, ``x``, ``y`` (pixels).
    Returns:
        ``(rows * tile, cols * tile, 3)`` uint8 RGB (frames evenly sampled when more than ``max_tiles``).
    """
    import cv2


    n = frames.shape[0]
    picks = np.unique(np.linspace(0, n - 1, min(n, max_tiles)).round().astype(int))
    low, high = (float(v) for v in np.percentile(frames, (1.0, 99.0)))
    h, w = frames.shape[1:]
    scale = tile / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    cols = int(math.ceil(math.sqrt(len(picks))))
    grid_rows = int(math.ceil(len(picks) / cols))
    sheet = np.zeros((grid_rows * tile, cols * tile, 3), np.uint8)
    for i, f in enumerate(picks):
        rgb = cv2.resize(greyscale_rgb(frames[f], low, high), size, interpolation=cv2.INTER_AREA)
        heat = cv2.resize(heatmaps[f].astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        mine = [r for r in rows if r["frame"] == f]
        # Pixel centres: x_tile = (x + 0.5) * scale - 0.5.
        points = [((r["x"] + 0.5) * scale - 0.5, (r["y"] + 0.5) * scale - 0.5) for r in mine]
        image = render_overlay(rgb, heat, points, [r["label"] for r in mine], opacity=opacity)
        cv2.putText(image, f"frame {f}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        y0, x0 = (i // cols) * tile, (i % cols) * tile
        sheet[y0:y0 + size[1], x0:x0 + size[0]] = image
    return sheet
