"""Logic of the Suture Detection module: no Qt, so it runs in 3D Slicer and on slicer-core (CI).

One call does one user action and leaves the scene either with all its new
nodes or, on bad input, an error or a cancel, with none of them
(:class:`~heatmap_landmarks.slicer_module.logic.SceneTransaction`). New nodes
always get new unique names: a user's node is never overwritten.

Pixels and points: a frame is the voxel array of a volume node, ``(1, H, W, 3)``
(KJI + colour) for a colour PNG/JPG loaded in Slicer; a detected point
``(x, y)`` is pixel ``(i, j) = (column, row)`` of slice ``k = 0`` and is placed
at the RAS position the volume's IJK->RAS matrix gives it, so points sit on
the pixels they were found on whatever the volume's spacing or orientation.
Exports convert the (possibly edited) points back to pixels the same way.

Only packages that ship with 3D Slicer (numpy, VTK/MRML) are imported at
module level; OpenCV, SciPy and torch are imported inside the methods that
need them, so the module loads before the Widget has offered to install them.
"""
from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

from heatmap_landmarks import mrml
from heatmap_landmarks.adaptor_json import SubmissionEntry, read_reference_points, write_submission_json, \
    write_suture_csv
from heatmap_landmarks.errors import InputError
from heatmap_landmarks.geometry import Geometry
from heatmap_landmarks.inference import DEVICES, PredictorCache
from heatmap_landmarks.pixels import unit_rgb
from heatmap_landmarks.sutures.decode import user_settings
from heatmap_landmarks.sutures.names import suture_labels
from heatmap_landmarks.sutures.pipeline import detect_sutures
from heatmap_landmarks.slicer_module.logic import CancelWhenGone, Progress, SceneTransaction, logic_base_class
from heatmap_landmarks.mrml.scene import module_logic
from heatmap_landmarks.mrml.video import FrameInput, VolumeSequenceBuilder, iter_sequence_volumes, resolve_frame_input

#: Point colours (RGB in [0, 1]): detections, and the comparison classes of the seed's Fig. 6.
DETECTION_COLOR = (0.0, 0.75, 1.0)
TP_COLOR = (0.1, 0.85, 0.1)
FP_COLOR = (0.95, 0.1, 0.1)
FN_COLOR = (1.0, 0.85, 0.0)
#: Heatmap values below this are not drawn in the overlay (display only; detection uses its own threshold).
OVERLAY_DISPLAY_THRESHOLD = 0.05


@dataclass(eq=False)
class SutureDetectionResult:
    """Nodes made by :meth:`SutureDetectionLogic.detect` and what is needed to map points back to pixels.

    For a single frame ``heatmapNode``/``pointsNode`` are ordinary nodes; for a
    sequence they are the proxies of ``heatmapSequenceNode``/``pointsSequenceNode``,
    synchronised in ``browserNode`` with the input video.
    """

    inputName: str
    backgroundNode: object
    heatmapNode: object  # None for a sequence detected with keepHeatmaps=False
    pointsNode: object
    countTableNode: object
    frameNames: list
    frameGeometries: list
    frameShapes: list
    heatmapSequenceNode: object = None
    pointsSequenceNode: object = None
    browserNode: object = None
    settings: dict = field(default_factory=dict)

    @property
    def isSequence(self) -> bool:
        return self.pointsSequenceNode is not None

    @property
    def frameCount(self) -> int:
        return len(self.frameNames)

    def nodes(self) -> list:
        """Every node this result added (for clean-up)."""
        return [n for n in (self.heatmapSequenceNode, self.pointsSequenceNode, self.heatmapNode, self.pointsNode,
                            self.countTableNode) if n is not None]


@dataclass(eq=False)
class SutureComparison:
    """Detections matched to ground truth (one-to-one, closest pairs within ``radius`` px).

    ``counts`` pools TP/FP/FN over the compared frames; ``perFrame`` holds
    ``{"frame", "tp", "fp", "fn"}`` per compared frame. The three point lists
    (proxies for sequences) show true positives (green), false positives (red)
    and false negatives (yellow, at the true position).
    """

    counts: "DetectionCounts"  # heatmap_landmarks.metrics
    radius: float
    perFrame: list
    framesWithoutTruth: list
    tpNode: object
    fpNode: object
    fnNode: object
    scoreTableNode: object
    sequenceNodes: list = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.counts.precision

    @property
    def sensitivity(self) -> float:
        return self.counts.sensitivity

    @property
    def f1(self) -> float:
        return self.counts.f1

    def summary(self) -> str:
        """One line for the module panel."""
        c = self.counts
        skipped = f"; {len(self.framesWithoutTruth)} frame(s) without ground truth" if self.framesWithoutTruth else ""
        return (f"Precision {c.precision:.3f}, sensitivity {c.sensitivity:.3f}, F1 {c.f1:.3f} "
                f"(TP {c.tp}, FP {c.fp}, FN {c.fn}; radius {self.radius:g} px; {len(self.perFrame)} frame(s){skipped})")


def frame_to_rgb(array: np.ndarray, source: str) -> np.ndarray:
    """Voxels of one frame ``(1, H, W[, C])`` -> ``(H, W, 3)`` float32 RGB in [0, 1].

    Raises a one-line :class:`InputError` for grey (scalar) volumes, 2- or
    4-component voxels with transparency, other component counts, and
    volumes of several slices.
    """
    a = np.asarray(array)
    if a.ndim == 3:
        raise InputError(source, "is a greyscale (scalar) volume, but the suture model needs RGB colour frames. "
                                 "Load the colour PNG/JPG frame (3D Slicer makes it a vector volume); a grey picture "
                                 "saved with three equal R, G, B channels is accepted")
    if a.ndim != 4:
        raise InputError(source, f"unexpected voxel array of shape {a.shape}")
    if a.shape[0] != 1:
        raise InputError(source, f"has {a.shape[0]} slices; expected one 2D frame (load a video as a sequence)")
    if a.shape[3] not in (3, 4):
        raise InputError(source, f"has {a.shape[3]}-component voxels; expected RGB (3) or opaque RGBA (4)")
    return unit_rgb(a[0], source)


def _safe_name(name: str) -> str:
    """A file-name-safe version of a node name (for image file names in exports)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned or "frame"


class SutureDetectionLogic(logic_base_class()):
    """Detect suture entry points on endoscopic frames or videos, compare with ground truth, export.

    The Widget calls one method per button. Everything is usable from the
    Python console or headless (slicer-core), e.g.::

        logic = SutureDetectionLogic()
        result = logic.detect(getNode("SyntheticSutureVideo"))
        scores = logic.compareToGroundTruth(result, "/path/submission.json")
        logic.exportCsv("/tmp/sutures.csv")
    """

    def __init__(self):
        super().__init__()
        self._progress = Progress()
        self._predictors = PredictorCache(max_items=1)  # one model in memory at a time
        self.lastResult: SutureDetectionResult | None = None
        self.overlayOpacity = 0.6

    # -- model ---------------------------------------------------------------
    def predictor(self, weights=None, device: str = "cpu", batchSize: int = 4):
        """The :class:`~heatmap_landmarks.sutures.SuturePredictor` for these settings (loaded once, then cached)."""
        from heatmap_landmarks.sutures import SuturePredictor

        if device not in DEVICES:
            raise InputError(None, f"device must be one of {', '.join(DEVICES)}, got {device!r}")
        if isinstance(batchSize, bool) or not isinstance(batchSize, (int, np.integer)) or batchSize < 1:
            raise InputError(None, f"batch size must be a whole number >= 1, got {batchSize!r}")
        if weights is not None and not os.fspath(weights).strip():
            raise InputError(None, "no weights file chosen: pick a model card (.json) or .safetensors file, "
                                   "or use the shipped demo weights")
        return self._predictors.get("sutures" if weights is None else weights, device=device,
                                    batch_size=int(batchSize), factory=SuturePredictor)

    # -- progress / cancel ---------------------------------------------------
    def cancel(self) -> None:
        """Ask a running :meth:`detect` to stop after the current batch (it then raises ``Cancelled``)."""
        self._progress.cancel()

    def _report(self, done: int, total: int) -> None:
        self._progress.report(done / max(total, 1), f"{done} of {total} frame(s)")

    # -- detection -----------------------------------------------------------
    @staticmethod
    def decoderSettings(threshold=None, openingKernel: int = 3, cut: bool = True) -> dict:
        """Validated decoding overrides for :meth:`SuturePredictor.predict_sutures` (threshold None = Otsu)."""
        return user_settings(threshold, openingKernel, cut)

    def detect(self, inputNode, weights=None, device: str = "cpu", threshold=None, openingKernel: int = 3,
               cut: bool = True, batchSize: int = 4, wholeSequence: bool = True, showResults: bool = True,
               keepHeatmaps: bool = True, progressCallback=None) -> SutureDetectionResult:
        """Detect suture points on a frame or on every frame of a video sequence.

        Args:
            inputNode: a colour volume (one frame), or a video as a sequence
                node, its browser, or its proxy volume.
            weights: model card / ``.safetensors`` path or catalogue key; None = shipped demo weights.
            device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
            threshold: heatmap threshold in [0, 1); None = Otsu per frame.
            openingKernel: morphological opening in px (0 = off).
            cut: split blobs larger than the mean blob into several points.
            wholeSequence: for a proxy volume, process its whole sequence.
            showResults: put the heatmap in the foreground of the slice views.
            keepHeatmaps: for a sequence, keep every frame's heatmap as a
                synchronised volume sequence (float32, about 0.6 MB per
                512 x 288 frame); False keeps only the points (long videos).
            progressCallback: ``f(fraction, message)``.

        Returns:
            :class:`SutureDetectionResult`; also kept as ``self.lastResult``.

        Raises:
            InputError: bad input or settings (nothing is added to the scene).
            heatmap_landmarks.inference.Cancelled: :meth:`cancel` was called, or the
                scene was closed or the input removed during the run (nothing is
                added to the scene).
        """
        decoder = self.decoderSettings(threshold, openingKernel, cut)
        frames = resolve_frame_input(inputNode, whole_sequence=wholeSequence)
        progress = self._progress = Progress(progressCallback)
        if frames.kind == "volume":  # read and check the pixels before loading a model
            array, geometry = mrml.array_from_volume_node(frames.volume)
            rgb = frame_to_rgb(array, frames.name)
        predictor = self.predictor(weights, device, batchSize)
        scene = mrml.ensure_scene()
        settings = {"weights": os.fspath(predictor.weights_path), "device": str(predictor.device), **decoder}
        with CancelWhenGone(progress, scene, (inputNode, frames.volume, frames.sequence, frames.browser)):
            progress.report(0.0, f"detecting sutures on {frames.count} frame(s)")
            progress.check()
            with SceneTransaction(scene):
                if frames.kind == "volume":
                    result = self._detectFrame(predictor, frames, rgb, geometry, decoder, settings)
                else:
                    result = self._detectSequence(predictor, frames, decoder, settings, keepHeatmaps)
                if showResults and result.heatmapNode is not None:
                    mrml.show_heatmap_overlay(result.heatmapNode, result.backgroundNode,
                                              threshold=OVERLAY_DISPLAY_THRESHOLD, opacity=self.overlayOpacity)
        self.lastResult = result
        self._progress.report(1.0, f"{sum(self.pointCounts(result))} suture point(s) on {result.frameCount} frame(s)")
        return result

    def _detectFrame(self, predictor, frames: FrameInput, rgb, geometry: Geometry, decoder, settings):
        prediction = next(predictor.predict_sutures([rgb], decoder=decoder, source=frames.name,
                                                    progress=self._report, should_cancel=self._progress.should_cancel))
        self._progress.check()  # the scene may have closed, or the input gone, during the progress report
        name = frames.name
        heatmap = mrml.mark_heatmap(mrml.volume_node_from_array(prediction.heatmap[None], geometry,
                                                                f"{name} suture heatmap"))
        labels = suture_labels(len(prediction.points))
        points = mrml.create_fiducials(geometry.xy_to_ras(prediction.points), labels, name=f"{name} sutures",
                                       confidences=prediction.confidence, color=DETECTION_COLOR)
        frame_name = f"{_safe_name(name)}.png"
        table = mrml.table_from_rows({"frame": [frame_name], "sutures": [len(labels)]}, f"{name} suture counts")
        return SutureDetectionResult(name, frames.volume, heatmap, points, table, [frame_name], [geometry],
                                     [tuple(rgb.shape[:2])], settings=settings)

    def _detectSequence(self, predictor, frames: FrameInput, decoder, settings, keepHeatmaps: bool):
        sequence, name = frames.sequence, frames.name
        browser, background = frames.browser, frames.volume
        if browser is None:
            browser, background = mrml.browse_sequence(sequence)
        geometries, shapes = [], []
        heatmaps = VolumeSequenceBuilder(sequence, f"{name} suture heatmap",
                                         item_attributes={mrml.HEATMAP_ATTRIBUTE: "1"}) if keepHeatmaps else None
        points_per_item, labels_per_item, confidences = [], [], []
        def rgb_of(item):
            i, array, _ = item
            return frame_to_rgb(array, f"{name} frame {i}")

        for (_, array, geometry), prediction, labels in detect_sutures(
                iter_sequence_volumes(sequence), predictor, rgb_of=rgb_of, decoder=decoder, source=name,
                total=frames.count, progress=self._report, should_cancel=self._progress.should_cancel,
                return_heatmaps=keepHeatmaps):
            geometries.append(geometry)
            shapes.append(tuple(array.shape[1:3]))
            if heatmaps is not None:
                heatmaps.append(prediction.heatmap[None], geometry)
            points_per_item.append(geometry.xy_to_ras(prediction.points))
            labels_per_item.append(labels)
            confidences.append(prediction.confidence)
        self._progress.check()  # the scene may have closed, or the input gone, during the last progress report
        heatmap_proxy = heatmaps.attach(browser) if heatmaps is not None else None
        points_sequence, points_proxy = mrml.add_markups_sequence(
            browser, points_per_item, labels_per_item, name=f"{name} sutures", confidences_per_item=confidences)
        mrml.set_fiducial_color(points_proxy, DETECTION_COLOR)
        frame_names = [f"{t:06d}.png" for t in range(len(points_per_item))]
        table = mrml.table_from_rows({"frame": frame_names, "sutures": [len(x) for x in labels_per_item]},
                                     f"{name} suture counts")
        return SutureDetectionResult(name, background, heatmap_proxy, points_proxy, table, frame_names, geometries,
                                     shapes, heatmapSequenceNode=heatmaps.sequence if heatmaps is not None else None,
                                     pointsSequenceNode=points_sequence,
                                     browserNode=browser, settings=settings)

    # -- reading (possibly edited) points back ---------------------------------
    def _result(self, result) -> SutureDetectionResult:
        result = result if result is not None else self.lastResult
        if result is None:
            raise InputError(None, "no detection yet; run the detection first")
        for node in (result.pointsSequenceNode if result.isSequence else result.pointsNode,):
            if node is None or node.GetScene() is None:
                raise InputError(None, f"the suture points of '{result.inputName}' were removed from the scene")
        return result

    def currentPoints(self, result: SutureDetectionResult | None = None) -> list:
        """The points now in the scene (after any edits), per frame, in pixels.

        Returns:
            list (one per frame) of ``(points (M, 2) float64 (x, y) px, labels, confidence (M,) NaN = none)``;
            points whose position is undefined (deleted/unplaced) are left out.
        """
        result = self._result(result)
        if result.isSequence:
            browser = result.browserNode
            logic = module_logic("Sequences", browser.GetScene())
            if logic is not None and browser.GetSaveChanges(result.pointsSequenceNode):
                logic.UpdateSequencesFromProxyNodes(browser, result.pointsNode)  # edits of the frame shown
            items = mrml.fiducials_from_sequence(result.pointsSequenceNode)
        else:
            items = [mrml.fiducials_to_arrays(result.pointsNode)]
        if len(items) != result.frameCount:
            raise InputError(None, f"the suture points hold {len(items)} frames but the detection had "
                                   f"{result.frameCount}")
        out = []
        for (ras, labels, descriptions), geometry in zip(items, result.frameGeometries):
            keep = ~np.isnan(ras).any(axis=1)
            pixels = geometry.ras_to_xy(ras[keep])
            confidence = np.array([mrml.parse_confidence(d) for d, k in zip(descriptions, keep) if k], np.float64)
            out.append((pixels, [label for label, k in zip(labels, keep) if k], confidence))
        return out

    def pointCounts(self, result: SutureDetectionResult | None = None) -> list:
        """Number of (defined) points per frame."""
        return [len(p) for p, _, _ in self.currentPoints(result)]

    def refreshCountTable(self, result: SutureDetectionResult | None = None):
        """Rewrite the count table from the points now in the scene (after edits); returns it."""
        result = self._result(result)
        counts = self.pointCounts(result)
        table = result.countTableNode.GetTable()
        column = table.GetColumnByName("sutures")
        for row, n in enumerate(counts):
            column.SetValue(row, int(n))
        table.Modified()
        result.countTableNode.Modified()
        return result.countTableNode

    # -- ground truth ----------------------------------------------------------
    def compareToGroundTruth(self, result: SutureDetectionResult | None = None, gtPath=None,
                             radius: float = 6.0) -> SutureComparison:
        """Match the current points to ground truth and show TP (green), FP (red), FN (yellow).

        Args:
            gtPath: an AdaptOR per-frame label JSON, a submission JSON, or a
                folder of per-frame label JSONs. Frames are matched by image
                file stem (``000012`` for sequence item 12); a single frame
                accepts a single label file whatever its name.
            radius: matching radius in pixels (inclusive).

        Returns:
            :class:`SutureComparison` (precision, sensitivity, F1, per-frame counts, nodes).
        """
        from heatmap_landmarks.metrics import DetectionCounts, match_points

        result = self._result(result)
        if gtPath in (None, ""):
            raise InputError(None, "no ground-truth file selected")
        radius = float(radius)
        if not (math.isfinite(radius) and radius > 0):
            raise InputError(None, f"match radius must be a positive number of pixels, got {radius!r}")
        truths = read_reference_points(gtPath)
        stems = [os.path.splitext(n)[0] for n in result.frameNames]
        if not result.isSequence and len(truths) == 1:
            truths = {stems[0]: next(iter(truths.values()))}
        if not any(s in truths for s in stems):
            shown = ", ".join(sorted(truths)[:3]) + (", ..." if len(truths) > 3 else "")
            raise InputError(gtPath, f"names none of the {len(stems)} detected frame(s) ({stems[0]}, ...); "
                                     f"it has {shown}")
        current = self.currentPoints(result)
        counts = DetectionCounts(0, 0, 0)
        per_frame, missing = [], []
        classes = {"tp": ([], []), "fp": ([], []), "fn": ([], [])}  # class -> (points RAS per frame, labels per frame)
        for stem, name, (pixels, labels, _), geometry in zip(stems, result.frameNames, current, result.frameGeometries):
            gt = truths.get(stem)
            if gt is None:
                missing.append(name)
                found = {"tp": ([], []), "fp": ([], []), "fn": ([], [])}
            else:
                pairs, fp, fn = match_points(pixels, gt, radius)
                tp_idx = pairs[:, 0] if len(pairs) else np.zeros(0, np.int64)
                found = {"tp": (pixels[tp_idx], [labels[i] for i in tp_idx]),
                         "fp": (pixels[fp], [labels[i] for i in fp]),
                         "fn": (np.asarray(gt, np.float64)[fn], [f"GT-{i + 1}" for i in fn])}
                frame_counts = DetectionCounts(len(pairs), len(fp), len(fn))
                counts = counts + frame_counts
                per_frame.append({"frame": name, "tp": frame_counts.tp, "fp": frame_counts.fp, "fn": frame_counts.fn})
            for key, (pts, labs) in found.items():
                classes[key][0].append(geometry.xy_to_ras(np.asarray(pts, np.float64).reshape(-1, 2)))
                classes[key][1].append(list(labs))

        scene = mrml.ensure_scene()
        names = {"tp": "true positives", "fp": "false positives", "fn": "false negatives"}
        colors = {"tp": TP_COLOR, "fp": FP_COLOR, "fn": FN_COLOR}
        nodes, sequences = {}, []
        with SceneTransaction(scene):
            for key in ("tp", "fp", "fn"):
                node_name = f"{result.inputName} sutures {names[key]}"
                points, labels = classes[key]
                if result.isSequence:
                    sequence, node = mrml.add_markups_sequence(result.browserNode, points, labels, name=node_name,
                                                               save_changes=False, locked=True)
                    sequences.append(sequence)
                else:
                    node = mrml.create_fiducials(points[0], labels[0], name=node_name, locked=True)
                mrml.set_fiducial_color(node, colors[key])
                nodes[key] = node
            table = mrml.table_from_rows({"frame": [r["frame"] for r in per_frame], "tp": [r["tp"] for r in per_frame],
                                          "fp": [r["fp"] for r in per_frame], "fn": [r["fn"] for r in per_frame]},
                                         f"{result.inputName} suture scores")
        comparison = SutureComparison(counts, radius, per_frame, missing, nodes["tp"], nodes["fp"], nodes["fn"], table,
                                      sequences)
        logging.info("Suture detection vs %s: %s", gtPath, comparison.summary())
        return comparison

    # -- exports -------------------------------------------------------------
    def exportSubmissionJson(self, path, folderName: str, subfolderName: str,
                             result: SutureDetectionResult | None = None, overwrite: bool = False) -> str:
        """Write the current points as an AdaptOR submission JSON (one entry per frame); never overwrites unless asked."""
        if not folderName or not subfolderName:
            raise InputError(path, "folderName and subfolderName must be non-empty (e.g. the operation and video ids)")
        result = self._result(result)
        entries = [SubmissionEntry(str(folderName), str(subfolderName), name, pixels)
                   for name, (pixels, _, _) in zip(result.frameNames, self.currentPoints(result))]
        return write_submission_json(entries, path, overwrite=overwrite)

    def exportCsv(self, path, result: SutureDetectionResult | None = None, overwrite: bool = False) -> str:
        """Write the current points as CSV ``frame,label,x,y,confidence``; never overwrites unless asked."""
        result = self._result(result)
        rows = [(name, pixels, labels, confidence)
                for name, (pixels, labels, confidence) in zip(result.frameNames, self.currentPoints(result))]
        return write_suture_csv(rows, path, overwrite=overwrite)

    # -- display ---------------------------------------------------------------
    def setOverlayOpacity(self, opacity: float) -> int:
        """Heatmap overlay opacity in [0, 1] in the slice views that show one of our heatmaps; returns how many.

        Also the opacity of the next detection's overlay.
        """
        count = mrml.set_overlay_opacity(opacity)
        self.overlayOpacity = float(opacity)
        return count
