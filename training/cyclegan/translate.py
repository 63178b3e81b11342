"""Translate a folder of RGB frames with a CycleGAN generator (e.g. simulator -> intra-operative look).

Usage::

    python -m training.cyclegan.translate --generator runs/cyclegan/G_sim2intraop.json --in DIR --out DIR
    python -m training.cyclegan.translate --generator G.json --adaptor --in SIM_ROOT --out TRANSLATED_ROOT

Flat mode: every ``.png``/``.jpg``/``.jpeg`` file directly in ``--in`` is
translated at full resolution and written to ``--out`` as an 8-bit RGB PNG with
the same file name (the stem is kept and the extension becomes ``.png``, so
``.png`` names are identical). The frame size never changes, so point labels
of the input stay valid for the output.

``--adaptor`` mode: ``--in`` and ``--out`` are AdaptOR-layout roots
(``<op>/<video>/images`` + ``point_labels``); every ``images/`` folder is
translated and its ``point_labels/*.json`` files are copied unchanged, so the
output is a labelled training set for :class:`training.sutures.data.AdaptorSource`.

Existing outputs are never replaced unless ``--overwrite`` is given; the check
runs before any work, so a refused run writes nothing. Grayscale frames are
refused (the generator needs colour).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Sequence

from heatmap_landmarks.errors import CheckpointError, InputError, refuse_overwrite
from heatmap_landmarks.fileutil import atomic_path

from ..common import one_line_errors
from ..datasets.adaptor import IMAGE_DIR, IMAGE_EXTENSIONS, LABEL_DIR, read_png_rgb

__all__ = ["load_generator", "plan_adaptor", "plan_flat", "translate_pairs", "main"]


def load_generator(path, device: str = "cpu"):
    """Load a generator card saved by ``training.cyclegan.train``; refuses other model kinds."""
    from heatmap_landmarks.checkpoint import load_checkpoint

    model, card = load_checkpoint(path, device=device)
    if card.architecture != "ResnetGenerator":
        raise CheckpointError(path, f"is a {card.architecture} model, not a CycleGAN ResnetGenerator")
    return model, card


def _images(folder: str) -> list[str]:
    return sorted(f for f in os.listdir(folder)
                  if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, f)))


def plan_flat(in_dir: str, out_dir: str) -> list[tuple[str, str]]:
    """``(input, output)`` path pairs for a flat folder; raises if there is nothing to do."""
    if not os.path.isdir(in_dir):
        raise InputError(in_dir, "is not a folder of frames")
    names = _images(in_dir)
    if not names:
        raise InputError(in_dir, f"holds no {'/'.join(IMAGE_EXTENSIONS)} frames")
    stems = [os.path.splitext(n)[0] for n in names]
    if len(set(stems)) != len(stems):
        dup = sorted({s for s in stems if stems.count(s) > 1})[0]
        raise InputError(in_dir, f"holds several frames named {dup}.* (they would all become {dup}.png)")
    return [(os.path.join(in_dir, n), os.path.join(out_dir, os.path.splitext(n)[0] + ".png")) for n in names]


def plan_adaptor(in_root: str, out_root: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Image pairs and label-copy pairs for an AdaptOR tree."""
    if not os.path.isdir(in_root):
        raise InputError(in_root, "is not a folder; expected an AdaptOR root with <op>/<video>/images/")
    images, labels = [], []
    for op in sorted(os.listdir(in_root)):
        op_dir = os.path.join(in_root, op)
        if op.startswith(".") or not os.path.isdir(op_dir):
            continue
        for video in sorted(os.listdir(op_dir)):
            src = os.path.join(op_dir, video)
            if not os.path.isdir(os.path.join(src, IMAGE_DIR)):
                continue
            dst = os.path.join(out_root, op, video)
            images += plan_flat(os.path.join(src, IMAGE_DIR), os.path.join(dst, IMAGE_DIR))
            label_dir = os.path.join(src, LABEL_DIR)
            if os.path.isdir(label_dir):
                labels += [(os.path.join(label_dir, f), os.path.join(dst, LABEL_DIR, f))
                           for f in sorted(os.listdir(label_dir)) if f.lower().endswith(".json")]
    if not images:
        raise InputError(in_root, f"no <op>/<video>/{IMAGE_DIR}/ folders found")
    return images, labels


def translate_pairs(generator, pairs: Sequence[tuple[str, str]], *, device: str = "cpu", overwrite: bool = False,
                    progress: bool = True) -> int:
    """Translate each input frame into its output path (8-bit PNG, atomic); returns the count."""
    from ..common import progress_bar
    from ..sutures.data import write_frame_png
    from .train import translate_array

    bar = progress_bar(pairs, total=len(pairs), desc="translate", enabled=progress)
    count = 0
    for src, dst in bar:
        image = read_png_rgb(src)
        out = translate_array(generator, image, device)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        write_frame_png(dst, out, overwrite=overwrite)
        count += 1
    return count


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.cyclegan.translate", description=__doc__.split("\n\n")[0])
    p.add_argument("--generator", required=True, help="generator model card (.json) from training.cyclegan.train")
    p.add_argument("--in", dest="in_dir", required=True, help="folder of frames (or AdaptOR root with --adaptor)")
    p.add_argument("--out", dest="out_dir", required=True, help="output folder")
    p.add_argument("--adaptor", action="store_true", help="in/out are AdaptOR roots; labels are copied")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--quiet", action="store_true")
    return p


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if os.path.abspath(args.in_dir) == os.path.abspath(args.out_dir):
        raise InputError(args.out_dir, "is the input folder; translated frames must go elsewhere")
    if args.adaptor:
        pairs, labels = plan_adaptor(args.in_dir, args.out_dir)
    else:
        pairs, labels = plan_flat(args.in_dir, args.out_dir), []
    for _, dst in pairs + labels:  # refuse before doing any work
        refuse_overwrite(dst, args.overwrite)
    generator, card = load_generator(args.generator, device=args.device)
    n = translate_pairs(generator, pairs, device=args.device, overwrite=args.overwrite,
                        progress=not args.quiet)
    for src, dst in labels:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with atomic_path(dst, overwrite=True) as tmp:  # refused above unless --overwrite
            shutil.copyfile(src, tmp)
    direction = card.metrics.get("translation", {})
    if not args.quiet:
        print(f"translated {n} frames ({direction.get('source_domain', '?')} -> "
              f"{direction.get('target_domain', '?')}) into {args.out_dir}"
              + (f"; copied {len(labels)} label files" if labels else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
