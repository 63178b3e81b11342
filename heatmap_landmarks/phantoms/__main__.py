"""Time the phantom generators and optionally write example PNGs.

Usage::

    python -m heatmap_landmarks.phantoms [--n 50] [--examples DIR] [--overwrite]

Timings are single-threaded (``cv2.setNumThreads(1)``, as in a data-loader
worker) and report wall and process-CPU milliseconds per sample.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import cv2
import numpy as np

from ..errors import InputError
from ..fileutil import atomic_path
from . import make_cardiac_cine, make_lax_slice, make_sax_slice, make_suture_frame


def _bench(name, fn, n, per_call=1):
    fn(0)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i + 1)
    scale = 1e3 / (n * per_call)
    wall, cpu = (time.perf_counter() - wall) * scale, (time.process_time() - cpu) * scale
    print(f"{name:44s} {wall:7.2f} ms wall {cpu:7.2f} ms cpu")


def _grey(img):
    lo, hi = np.percentile(img, (0.5, 99.5))
    return (np.clip((img - lo) / max(hi - lo, 1e-9), 0, 1) * 255).astype(np.uint8)


def _mark(bgr, points, colour):
    for p in np.asarray(points).reshape(-1, 2):
        if np.all(np.isfinite(p)):
            cv2.circle(bgr, (int(round(p[0] * 16)), int(round(p[1] * 16))), 4 * 16, colour, 1, cv2.LINE_AA, 4)
    return bgr


def _write(path, image, overwrite):
    with atomic_path(path, overwrite=overwrite) as tmp:
        if not cv2.imwrite(os.fspath(tmp), image):
            raise InputError(path, "could not write the PNG")


def _examples(folder, overwrite):
    os.makedirs(folder, exist_ok=True)
    for mode in ("train", "wide"):
        sax = make_sax_slice(1, level=0.25, randomisation=mode)
        bgr = cv2.cvtColor(_grey(sax.image), cv2.COLOR_GRAY2BGR)
        _mark(bgr, sax.points(["RVI-1"]), (0, 0, 255))
        _mark(bgr, sax.points(["RVI-2"]), (0, 255, 0))
        _mark(bgr, sax.points(["LVC"]), (255, 0, 0))
        _write(os.path.join(folder, f"sax_{mode}.png"), bgr, overwrite)
        lax = make_lax_slice(2, view="4ch", randomisation=mode)
        bgr = _mark(cv2.cvtColor(_grey(lax.image), cv2.COLOR_GRAY2BGR), lax.points(), (0, 0, 255))
        _write(os.path.join(folder, f"lax4ch_{mode}.png"), bgr, overwrite)
    for domain in ("sim", "intraop"):
        s = make_suture_frame(3, n_sutures=10, domain=domain)
        bgr = (s.image[..., ::-1] * 255).astype(np.uint8)
        _write(os.path.join(folder, f"sutures_{domain}.png"), bgr, overwrite)
        _write(os.path.join(folder, f"sutures_{domain}_points.png"), _mark(bgr.copy(), s.points, (0, 255, 255)),
               overwrite)
    print(f"examples written to {folder}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heatmap_landmarks.phantoms", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50, help="samples per timing (default 50)")
    parser.add_argument("--examples", metavar="DIR", help="write example PNGs into DIR")
    parser.add_argument("--overwrite", action="store_true", help="replace existing example PNGs")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    n = max(1, args.n)
    _bench("SAX slice 256x256 (train)", lambda i: make_sax_slice(i, size=(256, 256)), n)
    _bench("SAX slice random grid 160-400 px (train)", lambda i: make_sax_slice(i), n)
    _bench("LAX slice random grid (train)", lambda i: make_lax_slice(i), n)
    _bench("SAX slice random grid (wide)", lambda i: make_sax_slice(i, randomisation="wide"), n)
    _bench("SAX cine 20 frames x 8 slices 256x256, per image",
           lambda i: make_cardiac_cine(i, n_frames=20, n_slices=8, size=(256, 256)), 1, per_call=160)
    _bench("suture frame 288x512 sim", lambda i: make_suture_frame(i, domain="sim"), n)
    _bench("suture frame 288x512 intraop", lambda i: make_suture_frame(i, domain="intraop"), n)
    _bench("suture frame 288x512 intraop, 15 sutures", lambda i: make_suture_frame(i, domain="intraop",
                                                                                  n_sutures=15), n)
    if args.examples:
        try:
            _examples(args.examples, args.overwrite)
        except InputError as err:
            print(err, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
