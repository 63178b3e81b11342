"""Checkpoints: safetensors weights + a JSON model card. Nothing is ever unpickled.

A checkpoint is two sibling files::

    <stem>.safetensors   the model's state_dict (parameters and BN buffers)
    <stem>.json          the ModelCard: architecture + config to rebuild the
                         network, landmark names, heatmap/decoding settings,
                         provenance, and the sha256 of the weights file

:func:`load_checkpoint` verifies the sha256 before it reads a single tensor,
rebuilds the network from the card through the architecture registry and loads
the weights strictly; every problem is a one-line
:class:`~heatmap_landmarks.errors.CheckpointError` naming the file.

:func:`save_state`/:func:`load_state` store training-resume state (optimiser
tensors, epoch counters) the same way, without pickle.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .errors import CheckpointError, InputError, PathLike, refuse_overwrite
from .fileutil import atomic_path
from .timing import phase

if TYPE_CHECKING:  # torch is imported where tensors are made or read: a card alone never needs it
    import torch
    from torch import nn

#: Newest model card format this package reads and the one it writes.
FORMAT_VERSION = 2
#: Test-time quarter turns a card may ask for (format 1 kept them as ``decoder.rotations``).
ROTATIONS = (1, 2, 4)
TASKS = ("cardiac", "sutures")
VIEWS = ("sax", "lax", None)
HEATMAP_MODES = ("single", "per_landmark")
#: Networks whose output channels are heatmaps (their ``out_channels`` must fit ``heatmap_mode``).
HEATMAP_ARCHITECTURES = ("CardiacGenerator", "ResNeXtUNet")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_STATE_META_KEY = "heatmap_landmarks.meta"
_REQUIRED = ("name", "task", "architecture", "landmark_names", "heatmap_mode", "sigma2", "input_size")
#: Largest side of the network input, pixels (a 4K video frame is 3840 x 2160).
MAX_INPUT_SIDE = 4096
#: Largest integer a network config may hold (channel widths, block counts, ...).
MAX_CONFIG_INT = 4096
#: Deepest nesting of a model card's JSON.
MAX_CARD_DEPTH = 32
#: Most parameters a card's network may have (400 MB of float32; the shipped ones have 0.13 M and 1.8 M).
MAX_PARAMETERS = 100_000_000
#: Configs whose integers all stay below this are small enough not to be counted (no network is built).
_COUNT_ABOVE = 1024

# Decoder settings a card may hold, per task: name -> (kind, low, high), the value range inclusive.
# These are the settings of the task decoders: cardiac.decode.CardiacDecoder and sutures.decode.SutureDecoder.
_DECODER_SETTINGS = {
    "cardiac": {
        "level": ("fraction", 0.0, 1.0),                   # of the heatmap maximum; 0 itself is no threshold
        "min_confidence": ("number", 0.0, 1.0),
        "rvi_max_distance_mm": ("number", 0.0, 1000.0),    # 0 = off
        "rvi_pair_confidence": ("number", 0.0, 1.0),       # 0 = off
    },
    "sutures": {
        "threshold": ("number-or-null", 0.0, 1.0),         # null = Otsu
        "opening_kernel": ("int", 0, 255),
        "cut": ("bool", None, None),
        "cut_ratio": ("fraction", 0.0, 100.0),
        "min_area": ("int", 1, 1_000_000),
        "min_confidence": ("number", 0.0, 1.0),
        "weighted": ("bool", None, None),
    },
}
# Intensity normalisation per method: its keys, and the tasks whose preprocessing reads it.
_NORMALISATIONS = {
    "percentile": ({"low", "high"}, ("cardiac",)),        # preprocess.prepare_cardiac percentiles
    "mean_std": ({"mean", "std"}, ("sutures",)),         # preprocess.prepare_suture_frame, per RGB channel
    "tanh_range": ({"low", "high"}, ("sutures",)),       # CycleGAN translators: [-1, 1]
}


def _card_error(problem: str) -> CheckpointError:
    return CheckpointError(None, f"model card: {problem}")


def _real(x: Any) -> bool:
    """A JSON number that is a finite real (no bool, no NaN, no int beyond float range)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        return "a huge integer"
    return text if len(text) <= 40 else text[:37] + "..."


def _check_setting(where: str, value: Any, kind: str, low, high) -> None:
    if kind == "bool":
        if not isinstance(value, bool):
            raise _card_error(f"{where} must be true or false, got {_shown(value)}")
        return
    if kind == "choice":
        if isinstance(value, bool) or value not in low:
            raise _card_error(f"{where} must be one of {', '.join(map(str, low))}, got {_shown(value)}")
        return
    if kind == "number-or-null" and value is None:
        return
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise _card_error(f"{where} must be a whole number from {low} to {high}, got {_shown(value)}")
    if not _real(value):
        raise _card_error(f"{where} must be a number{' or null' if kind == 'number-or-null' else ''}, "
                          f"got {_shown(value)}")
    if not (low < value if kind == "fraction" else low <= value) or value > high:
        bounds = f"in ({low:g}, {high:g}]" if kind == "fraction" else f"in [{low:g}, {high:g}]"
        raise _card_error(f"{where} must be {bounds}, got {_shown(value)}")


def _check_decoder(card: "ModelCard") -> None:
    settings = _DECODER_SETTINGS[card.task]
    unknown = sorted(k for k in card.decoder if k not in settings)
    if unknown:
        raise _card_error(f"decoder: unknown setting(s) {', '.join(map(repr, unknown))} for task {card.task!r}; "
                          f"valid settings are {', '.join(settings)}")
    for key, value in card.decoder.items():
        _check_setting(f"decoder.{key}", value, *settings[key])
    # (4 rotations on a non-square grid: the Predictor refuses that with its own one line.)
    if card.decoder.get("rvi_max_distance_mm") and card.input_spacing_mm is None:
        raise _card_error("decoder.rvi_max_distance_mm needs input_spacing_mm (a distance in mm on the network grid)")


def _check_normalisation(card: "ModelCard") -> None:
    norm = card.normalisation
    if not norm:
        return
    method = norm.get("method")
    if method not in _NORMALISATIONS:
        raise _card_error(f"normalisation.method must be one of {', '.join(map(repr, _NORMALISATIONS))}, "
                          f"got {_shown(method)}")
    keys, tasks = _NORMALISATIONS[method]
    if card.task not in tasks:
        raise _card_error(f"normalisation.method {method!r} is not read by {card.task!r} models "
                          f"(use {' or '.join(repr(m) for m, (_, t) in _NORMALISATIONS.items() if card.task in t)})")
    extra = sorted(set(norm) - keys - {"method"})
    missing = sorted(keys - set(norm))
    if extra or missing:
        raise _card_error(f"normalisation {method!r} needs exactly {', '.join(sorted(keys))}"
                          + (f"; unknown {', '.join(map(repr, extra))}" if extra else "")
                          + (f"; missing {', '.join(map(repr, missing))}" if missing else ""))
    if method in ("percentile", "tanh_range"):
        for key in ("low", "high"):
            if not _real(norm[key]):
                raise _card_error(f"normalisation.{key} must be a number, got {_shown(norm[key])}")
        low, high = norm["low"], norm["high"]
        if not low < high or (method == "percentile" and not 0 <= low < high <= 100):
            bounds = "0 <= low < high <= 100 (percentiles)" if method == "percentile" else "low < high"
            raise _card_error(f"normalisation needs {bounds}, got low {low!r}, high {high!r}")
        return
    for key in ("mean", "std"):
        values = norm[key]
        if not isinstance(values, list) or len(values) != 3 or not all(_real(v) for v in values):
            raise _card_error(f"normalisation.{key} must be three numbers (R, G, B), got {_shown(values)}")
    if not all(v > 0 for v in norm["std"]):
        raise _card_error(f"normalisation.std must be positive, got {norm['std']}")


def _check_config(card: "ModelCard") -> None:
    """Config values within :data:`MAX_CONFIG_INT` and, for a registered architecture, valid for its config class."""
    def walk(value, where):
        if isinstance(value, bool):
            return
        if isinstance(value, int) and abs(value) > MAX_CONFIG_INT:
            raise _card_error(f"{where} must be at most {MAX_CONFIG_INT}, got {_shown(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise _card_error(f"{where} must be finite, got {value!r}")
        if isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}.{k}")

    walk(card.config, "config")
    with phase("imports"):  # the networks bring torch in: checking a card's config needs their config classes
        from .models import ARCHITECTURES, build_model, count_parameters  # the networks import errors only; no cycle

    entry = ARCHITECTURES.get(card.architecture)
    if entry is None:  # another registry may be given to load_checkpoint; it checks its own
        return
    try:
        entry[0].from_dict(card.config)
    except InputError as err:
        raise _card_error(f"config: {err.problem}") from None
    except TypeError as err:  # a value of a type the config class cannot even compare
        raise _card_error(f"config: {err}") from None
    if _largest_int(card.config) > _COUNT_ABOVE:
        # Wide layers: count the parameters on the meta device (nothing allocated) before anyone builds it.
        import torch

        with torch.device("meta"):
            n = count_parameters(build_model(card.architecture, card.config))
        if n > MAX_PARAMETERS:
            raise _card_error(f"config describes a network of {n:,} parameters; at most {MAX_PARAMETERS:,} "
                              f"are allowed (check the widths)")


def _largest_int(value) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return abs(value)
    if isinstance(value, list):
        return max((_largest_int(v) for v in value), default=0)
    if isinstance(value, dict):
        return max((_largest_int(v) for v in value.values()), default=0)
    return 0


def _converted(d: Mapping[str, Any]) -> dict:
    """A card dict in the current format: format 1 kept the test-time rotations as ``decoder.rotations``.

    The old key moves to ``rotations`` (checked where it stood, so a bad value is named
    ``decoder.rotations``); both at once must agree. ``format_version`` becomes the current one.
    """
    out = dict(d)
    decoder = out.get("decoder")
    if isinstance(decoder, Mapping) and "rotations" in decoder:
        old = decoder["rotations"]
        _check_setting("decoder.rotations", old, "choice", ROTATIONS, None)
        if "rotations" in out and out["rotations"] != old:
            raise _card_error(f"rotations {_shown(out['rotations'])} and decoder.rotations {_shown(old)} disagree")
        out["decoder"] = {k: v for k, v in decoder.items() if k != "rotations"}
        out["rotations"] = old
    if isinstance(out.get("format_version"), int) and not isinstance(out["format_version"], bool) \
            and 1 <= out["format_version"] < FORMAT_VERSION:
        out["format_version"] = FORMAT_VERSION
    return out


@dataclasses.dataclass(kw_only=True)
class ModelCard:
    """Everything needed to rebuild, run and judge a trained network.

    Attributes:
        format_version: card format (``FORMAT_VERSION``).
        name: short identifier, e.g. ``"cardiac-sax-demo"``.
        task: ``"cardiac"`` or ``"sutures"``.
        view: ``"sax"``, ``"lax"`` or ``None`` (always ``None`` for sutures).
        architecture: registry key in :data:`heatmap_landmarks.models.ARCHITECTURES`.
        config: plain dict for the architecture's config dataclass.
        landmark_names: names of the landmark types, e.g. ``["RVI-1", "RVI-2", "LVC"]``.
        heatmap_mode: ``"single"`` (one channel holds every landmark) or
            ``"per_landmark"`` (one channel per name).
        sigma2: Gaussian variance of the training heatmaps, px^2 (network grid).
        input_size: ``[H, W]`` of the network input, pixels.
        input_spacing_mm: in-plane spacing the input is resampled to, mm/pixel
            (``None``: images are not resampled, e.g. endoscopy).
        normalisation: intensity normalisation, e.g. ``{"method": "percentile",
            "low": 1, "high": 99}`` or ``{"method": "mean_std", "mean": [...], "std": [...]}``.
        decoder: heatmap decoding settings (threshold, opening kernel, ...).
        rotations: test-time quarter turns averaged (1, 2 or 4; format-1 cards held this as
            ``decoder.rotations`` and are converted on reading).
        training_data: free text, e.g. ``"synthetic phantom only"``.
        metrics: evaluation results by name.
        sha256: hex digest of the weights file (filled in by :func:`save_checkpoint`).
        weights_file: weights file name, next to the card (filled in by :func:`save_checkpoint`).
        notes: free text.

    >>> card = ModelCard(name="demo", task="sutures", architecture="ResNeXtUNet",
    ...                  landmark_names=["suture"], heatmap_mode="single", sigma2=5.0,
    ...                  input_size=[288, 512])
    >>> ModelCard.from_json(card.to_json()) == card
    True
    >>> ModelCard.from_dict({**card.to_dict(), "colour": "red"})
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.CheckpointError: model card: unknown key(s) 'colour'; valid keys are ...
    """

    format_version: int = FORMAT_VERSION
    name: str
    task: str
    view: str | None = None
    architecture: str
    config: dict = dataclasses.field(default_factory=dict)
    landmark_names: list
    heatmap_mode: str
    sigma2: float
    input_size: list
    input_spacing_mm: float | None = None
    normalisation: dict = dataclasses.field(default_factory=dict)
    decoder: dict = dataclasses.field(default_factory=dict)
    rotations: int = 1
    training_data: str = ""
    metrics: dict = dataclasses.field(default_factory=dict)
    sha256: str = ""
    weights_file: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        v = self.format_version
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise _card_error(f"format_version must be a positive integer, got {v!r}")
        if v > FORMAT_VERSION:
            raise _card_error(f"format_version {v} is newer than this package reads ({FORMAT_VERSION}); "
                              "update heatmap_landmarks")
        for name in ("name", "architecture"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise _card_error(f"{name} must be a non-empty string, got {getattr(self, name)!r}")
        if self.task not in TASKS:
            raise _card_error(f"task must be one of {TASKS}, got {self.task!r}")
        if self.view not in VIEWS:
            raise _card_error(f"view must be 'sax', 'lax' or null, got {self.view!r}")
        if self.task == "sutures" and self.view is not None:
            raise _card_error(f"view must be null for task 'sutures', got {self.view!r}")
        for name in ("config", "normalisation", "decoder", "metrics"):
            value = getattr(self, name)
            if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                raise _card_error(f"{name} must be a dict with string keys, got {value!r}")
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as err:
                raise _card_error(f"{name} is not JSON-serialisable: {err}") from None
        if self.normalisation and not isinstance(self.normalisation.get("method"), str):
            raise _card_error("normalisation must name its 'method' (e.g. 'percentile', 'mean_std')")
        names = self.landmark_names
        if (isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)) or not names
                or not all(isinstance(n, str) and n.strip() for n in names)):
            raise _card_error(f"landmark_names must be a non-empty list of names, got {names!r}")
        if len(set(names)) != len(names):
            raise _card_error(f"landmark_names must be unique, got {list(names)}")
        self.landmark_names = list(names)
        if self.heatmap_mode not in HEATMAP_MODES:
            raise _card_error(f"heatmap_mode must be one of {HEATMAP_MODES}, got {self.heatmap_mode!r}")
        out_channels = self.config.get("out_channels")
        if out_channels is not None and self.architecture in HEATMAP_ARCHITECTURES:
            expected = 1 if self.heatmap_mode == "single" else len(self.landmark_names)
            if out_channels != expected:
                raise _card_error(f"config out_channels={out_channels} does not fit heatmap_mode "
                                  f"{self.heatmap_mode!r} with {len(self.landmark_names)} landmark name(s) "
                                  f"(expected {expected})")
        if not _positive_number(self.sigma2) or self.sigma2 > 1e4:
            raise _card_error(f"sigma2 must be a positive number (px^2) of at most 10000, got {_shown(self.sigma2)}")
        self.sigma2 = float(self.sigma2)
        size = self.input_size
        if (not isinstance(size, (list, tuple)) or len(size) != 2
                or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)):
            raise _card_error(f"input_size must be [H, W] positive integers, got {_shown(size)}")
        if max(size) > MAX_INPUT_SIDE:
            raise _card_error(f"input_size sides must be at most {MAX_INPUT_SIDE} pixels, got {_shown(size)}")
        self.input_size = list(size)
        if self.input_spacing_mm is not None:
            if not _positive_number(self.input_spacing_mm) or self.input_spacing_mm > 100:
                raise _card_error(f"input_spacing_mm must be a positive number of at most 100 (mm) or null, "
                                  f"got {_shown(self.input_spacing_mm)}")
            self.input_spacing_mm = float(self.input_spacing_mm)
        _check_config(self)
        _check_normalisation(self)
        _check_decoder(self)
        if isinstance(self.rotations, bool) or self.rotations not in ROTATIONS:
            raise _card_error(f"rotations must be one of {', '.join(map(str, ROTATIONS))}, got {_shown(self.rotations)}")
        if self.rotations != 1 and self.task != "cardiac":
            raise _card_error(f"rotations apply to cardiac models only, got {self.rotations} for task {self.task!r}")
        for name in ("training_data", "notes", "sha256", "weights_file"):
            if not isinstance(getattr(self, name), str):
                raise _card_error(f"{name} must be a string, got {getattr(self, name)!r}")
        if self.sha256 and not _SHA256.match(self.sha256):
            raise _card_error(f"sha256 must be 64 lowercase hex digits, got {self.sha256!r}")
        wf = self.weights_file
        if wf and (os.path.basename(wf) != wf or "/" in wf or "\\" in wf or not wf.endswith(".safetensors")):
            raise _card_error(f"weights_file must be a bare '<name>.safetensors' file name, got {wf!r}")

    # -- (de)serialisation ---------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (deep copy)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: PathLike | None = None) -> "ModelCard":
        """Build and validate; unknown or missing keys raise :class:`CheckpointError` naming them."""
        if not isinstance(d, Mapping):
            raise CheckpointError(source, f"model card must be a JSON object, got {type(d).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(str(k) for k in d if k not in known)
        if unknown:
            raise CheckpointError(source, f"model card: unknown key(s) {', '.join(map(repr, unknown))}; "
                                          f"valid keys are {', '.join(known)}")
        missing = [k for k in _REQUIRED if k not in d]
        if missing:
            raise CheckpointError(source, f"model card: missing key(s) {', '.join(map(repr, missing))}")
        try:
            return cls(**_converted(d))
        except CheckpointError as err:
            raise CheckpointError(source, err.problem) from None

    def to_json(self) -> str:
        """Indented JSON text ending in a newline."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str, source: PathLike | None = None) -> "ModelCard":
        """Parse and validate; nesting deeper than :data:`MAX_CARD_DEPTH` is refused before parsing."""
        from .adaptor_json import parse_json  # the one home of careful JSON parsing

        try:
            data = parse_json(text, source, max_depth=MAX_CARD_DEPTH)
        except InputError as err:
            raise CheckpointError(source, f"model card {err.problem}") from None
        return cls.from_dict(data, source)


def _positive_number(x: Any) -> bool:
    return _real(x) and x > 0


# -- files -------------------------------------------------------------------------
def sha256_file(path: PathLike) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks).

    >>> import tempfile, os; d = tempfile.mkdtemp(); p = os.path.join(d, "x.bin")
    >>> _ = open(p, "wb").write(b"abc")
    >>> sha256_file(p)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stem(path: PathLike) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".json", ".safetensors") else p


def _resolve(path: PathLike) -> tuple[Path, Path]:
    """(card path, sibling weights path) for a card, a weights file or their common stem."""
    stem = _stem(path)
    return stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".safetensors")


def load_card(path: PathLike) -> ModelCard:
    """Read and validate the model card at ``path`` (a ``.json`` card, or its ``.safetensors`` sibling).

    Raises:
        CheckpointError: missing file, invalid JSON or invalid card.
    """
    card_path, _ = _resolve(path)
    if not card_path.is_file():
        raise CheckpointError(card_path, "model card not found" + ("" if Path(path) == card_path else
                                                                    f" (looked next to {path})"))
    try:
        text = card_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(card_path, f"cannot read model card: {err}") from None
    return ModelCard.from_json(text, source=card_path)


def _state_problems(expected: Mapping[str, tuple], found: Mapping[str, tuple], limit: int = 3) -> list[str]:
    """Human-readable differences between two {tensor name: shape} maps (at most ``limit`` named per kind)."""
    def shape(s: tuple) -> str:
        return str(tuple(s))

    problems = []
    mismatched = [k for k in expected if k in found and tuple(expected[k]) != tuple(found[k])]
    if mismatched:
        listed = "; ".join(f"{k}: config expects {shape(expected[k])}, file has {shape(found[k])}"
                           for k in mismatched[:limit])
        more = f" (+{len(mismatched) - limit} more)" if len(mismatched) > limit else ""
        problems.append(f"shape mismatch in {len(mismatched)} tensor(s): {listed}{more}")
    for label, names in (("missing from the file", [k for k in expected if k not in found]),
                         ("unexpected in the file", [k for k in found if k not in expected])):
        if names:
            more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
            problems.append(f"{len(names)} tensor(s) {label}: {', '.join(names[:limit])}{more}")
    return problems


def _shapes(state: Mapping[str, torch.Tensor]) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in state.items()}


def weights_mismatch(model: nn.Module, state: Mapping[str, torch.Tensor]) -> list[str]:
    """Why ``state`` cannot be loaded strictly into ``model``: readable lines (empty when it fits).

    Shape mismatches, missing and unexpected tensors, a few named per kind.
    """
    return _state_problems(_shapes(model.state_dict()), _shapes(state))


def _build(card: ModelCard, source: PathLike, architectures=None, device: Any = None) -> nn.Module:
    import torch

    from .models import build_model  # models import the errors module only; no cycle

    try:
        if device is None:
            return build_model(card.architecture, card.config, architectures=architectures)
        with torch.device(device):
            return build_model(card.architecture, card.config, architectures=architectures)
    except InputError as err:
        raise CheckpointError(source, err.problem) from None


def _complete_config(model: nn.Module, card: ModelCard, source: Path, architectures=None) -> ModelCard:
    """Card whose config lists every field of ``model.config`` (so later default changes cannot break it).

    A card config that disagrees with ``model.config`` is an error naming the keys.
    """
    from .models import ARCHITECTURES

    registry = ARCHITECTURES if architectures is None else architectures
    entry = registry.get(card.architecture)
    model_config = getattr(model, "config", None)
    if entry is None or not isinstance(model_config, entry[0]):
        return card
    try:
        declared = entry[0].from_dict(card.config).to_dict()
    except InputError as err:
        raise CheckpointError(source, err.problem) from None
    full = model_config.to_dict()
    given = set(card.config)
    differ = [k for k in full if k in given and declared[k] != full[k]]
    if differ:
        listed = ", ".join(f"{k}: card {declared[k]!r} vs model {full[k]!r}" for k in differ[:3])
        raise CheckpointError(source, f"card config does not match the model's config ({listed})")
    try:
        return dataclasses.replace(card, config=full)
    except CheckpointError as err:
        raise CheckpointError(source, err.problem) from None


def save_checkpoint(model: nn.Module, card: ModelCard, path: PathLike, *, overwrite: bool = False,
                    architectures=None) -> tuple[Path, Path]:
    """Write ``<stem>.safetensors`` and ``<stem>.json`` (the card, with sha256 and weights file name).

    ``path`` is the stem or either file's path. The saved card's ``config``
    lists every field of ``model.config`` (keys the card leaves out are filled
    in; keys that disagree are an error). The card's architecture and config
    must rebuild a network whose tensors match ``model``'s (checked on the meta
    device, so nothing is allocated) — a card that cannot reload its own
    weights is refused at save time. Both files are written to temporary
    names first and renamed into place, so a failure leaves nothing partial.

    Returns:
        ``(weights_path, card_path)``.

    Raises:
        OutputExistsError: a target exists and ``overwrite`` is false.
        CheckpointError: the card does not describe ``model``.
    """
    stem = _stem(path)
    weights_path = stem.with_name(stem.name + ".safetensors")
    card_path = stem.with_name(stem.name + ".json")
    refuse_overwrite(weights_path, overwrite)
    refuse_overwrite(card_path, overwrite)
    if not stem.parent.is_dir():
        raise InputError(stem.parent, "output directory does not exist")

    card = _complete_config(model, card, card_path, architectures)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    reference = _build(card, card_path, architectures, device="meta")
    problems = weights_mismatch(reference, state)
    if problems:
        raise CheckpointError(card_path, f"card does not describe this model ({card.architecture} with the "
                                         f"card's config): {'; '.join(problems)}")

    from safetensors.torch import save_file

    # The card is moved into place after the weights it describes (the inner block finishes first).
    with atomic_path(card_path, overwrite=overwrite) as tmp_card:
        with atomic_path(weights_path, overwrite=overwrite) as tmp_weights:
            save_file(state, str(tmp_weights), metadata={"format": "pt", "architecture": card.architecture})
            final = dataclasses.replace(card, sha256=sha256_file(tmp_weights), weights_file=weights_path.name)
            tmp_card.write_text(final.to_json(), encoding="utf-8")
    return weights_path, card_path


def load_checkpoint(path: PathLike, *, device: str | torch.device = "cpu",
                    architectures=None, card: ModelCard | None = None) -> tuple[nn.Module, ModelCard]:
    """Verify, rebuild and load a checkpoint; returns ``(model in eval mode on device, card)``.

    ``path``: the ``.json`` card, the ``.safetensors`` weights or their common
    stem. Order: read the card, check the weights' sha256 against it, build the
    network from ``card.architecture``/``card.config`` (through
    ``architectures`` if given, else the package registry), read the tensors
    with safetensors (no pickle) and load them strictly.

    For fast CPU inference pass the model to
    :func:`heatmap_landmarks.models.prepare_for_inference`. ``card``: the card at ``path``
    already read with :func:`load_card` (it is then not read and checked a second time).

    Raises:
        CheckpointError: missing files, sha256 mismatch, unknown architecture,
            invalid config, or weights that do not fit the network (naming the
            first mismatching tensors and their shapes).
    """
    card_path, _ = _resolve(path)
    card = load_card(card_path) if card is None else card
    if Path(path).suffix == ".safetensors":
        weights_path = Path(path)
    elif card.weights_file:
        weights_path = card_path.with_name(card.weights_file)
    else:
        raise CheckpointError(card_path, "model card does not name its weights_file")
    if not weights_path.is_file():
        raise CheckpointError(weights_path, f"weights file not found (named by {card_path.name})")
    if not card.sha256:
        raise CheckpointError(card_path, "model card has no sha256; refusing to load unverified weights")
    actual = sha256_file(weights_path)
    if actual != card.sha256:
        raise CheckpointError(weights_path, f"sha256 mismatch: card says {card.sha256}, file is {actual} — "
                                            "the weights were modified or belong to another card")
    model = _build(card, card_path, architectures)

    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(weights_path, f"cannot read safetensors weights: {err}") from None
    bad = next((name for name, t in state.items() if t.is_floating_point() and not bool(t.isfinite().all())), None)
    if bad is not None:  # would only show later as a NaN heatmap, naming no file
        raise CheckpointError(weights_path, f"weights contain NaN or infinite values (tensor '{bad}')")
    problems = weights_mismatch(model, state)
    if problems:
        raise CheckpointError(weights_path, f"weights do not fit {card.architecture} built from the card's "
                                            f"config: {'; '.join(problems)}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:  # e.g. dtype that cannot be copied; keep it one line
        raise CheckpointError(weights_path, f"cannot load weights: {err}") from None
    return model.to(device).eval(), card


# -- training-resume state (no pickle) -------------------------------------------------
def _encode(value: Any) -> Any:
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__tuple__"}:
            return tuple(_decode(v) for v in value["__tuple__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def save_state(path: PathLike, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any], *,
               overwrite: bool = False) -> Path:
    """Write tensors + JSON-able metadata (tuples preserved) to one ``.safetensors`` file, atomically.

    For resuming training without pickle: model and optimiser tensors (see
    :func:`optimizer_state_to_tensors`) plus epoch counters, RNG seeds, etc.

    >>> import tempfile, os, torch; d = tempfile.mkdtemp()
    >>> p = save_state(os.path.join(d, "resume"), {"w": torch.ones(2)}, {"epoch": 3, "betas": (0.5, 0.9)})
    >>> t, m = load_state(p); t["w"].tolist(), m
    ([1.0, 1.0], {'epoch': 3, 'betas': (0.5, 0.9)})
    """
    from safetensors.torch import save_file

    target = Path(path)
    if target.suffix != ".safetensors":
        target = target.with_name(target.name + ".safetensors")
    refuse_overwrite(target, overwrite)
    try:
        meta_json = json.dumps(_encode(dict(meta)), allow_nan=True)
    except TypeError as err:
        raise ValueError(f"save_state: meta is not JSON-serialisable: {err}") from None
    data = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    with atomic_path(target, overwrite=overwrite) as tmp:
        save_file(data, str(tmp), metadata={_STATE_META_KEY: meta_json})
    return target


def load_state(path: PathLike, device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict]:
    """Read a file written by :func:`save_state`: ``(tensors, meta)``."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device=str(device)) as fh:
            meta_json = (fh.metadata() or {}).get(_STATE_META_KEY)
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError) as err:
        raise CheckpointError(path, f"cannot read training state: {err}") from None
    if meta_json is None:
        raise CheckpointError(path, "not a training-state file (no heatmap_landmarks metadata)")
    return tensors, _decode(json.loads(meta_json))


def optimizer_state_to_tensors(state_dict: Mapping[str, Any], prefix: str = "optim") -> tuple[dict, dict]:
    """Split ``optimizer.state_dict()`` into ``(tensors, meta)`` for :func:`save_state`.

    Tensor entries go to ``tensors["<prefix>/<param id>/<key>"]``; everything
    else (scalars, param groups) goes to ``meta``.
    """
    import torch

    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for pid, entry in state_dict["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}/{pid}/{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    meta = {"prefix": prefix, "param_ids": [int(p) for p in state_dict["state"]],
            "scalars": scalars, "param_groups": state_dict["param_groups"]}
    return tensors, meta


def optimizer_state_from_tensors(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict:
    """Inverse of :func:`optimizer_state_to_tensors`: a dict for ``optimizer.load_state_dict``."""
    prefix = meta["prefix"]
    state: dict[int, dict] = {int(p): dict(meta["scalars"].get(str(p), {})) for p in meta["param_ids"]}
    for name, value in tensors.items():
        head, _, rest = name.partition("/")
        if head != prefix:
            continue
        pid, _, key = rest.partition("/")
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": [dict(g) for g in meta["param_groups"]]}
