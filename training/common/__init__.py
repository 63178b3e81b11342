"""Training plumbing shared by the cardiac and suture training scripts.

Generic on purpose (no task knowledge): device selection and DDP set-up,
seeding, mixed precision, resumable training state without pickle, a run
budget, progress bars and per-epoch logs.

* :func:`setup_device_and_ddp` -> :class:`DistContext`: CUDA when present
  (``"auto"``), DDP when launched by ``torchrun`` (``WORLD_SIZE > 1``); only
  rank 0 logs and saves (``ctx.is_main``).
* :func:`seed_everything`: Python, NumPy and torch (CPU and CUDA) RNGs, plus
  deterministic cuDNN.
* :func:`autocast`, :func:`make_grad_scaler`: mixed precision on CUDA only;
  on CPU both are no-ops, so one training loop serves both.
* :func:`save_training_state` / :func:`load_training_state`: model, optimiser
  and GradScaler state plus RNG states in one ``.safetensors`` file whose
  header holds the JSON metadata (via :func:`heatmap_landmarks.checkpoint.save_state`);
  optimiser tensors are flattened by ``optimizer_state_to_tensors``. Nothing is
  pickled, so a resume file from an untrusted source cannot run code.
* :class:`RunBudget`: ``--max-steps`` / ``--max-minutes``.
* :func:`progress_bar`: tqdm on the main rank, a silent stand-in elsewhere.
* :class:`MetricsLog`: one JSON line per epoch (``log.jsonl``) and the same
  rows as ``log.csv``.
* :func:`json_safe`: a JSON-able copy of a summary (NaN/inf -> null, numpy scalars -> Python).
"""
from __future__ import annotations

import contextlib
import csv
import json
import functools
import logging
import math
import os
import shutil
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch import nn

from heatmap_landmarks.checkpoint import (
    load_state,
    optimizer_state_from_tensors,
    optimizer_state_to_tensors,
    save_state,
)
from heatmap_landmarks.errors import CheckpointError, InputError
from heatmap_landmarks.fileutil import atomic_text_file

log = logging.getLogger("training")

__all__ = [
    "DistContext",
    "MetricsLog",
    "leave_together",
    "one_line_errors",
    "RunBudget",
    "autocast",
    "cleanup_ddp",
    "derive_seed",
    "make_grad_scaler",
    "progress_bar",
    "seed_everything",
    "setup_device_and_ddp",
    "prepare_run_dir",
    "setup_logging",
    "unwrap",
    "wrap_ddp",
    "save_training_state",
    "load_training_state",
    "json_safe",
]


# --------------------------------------------------------------------------- device / DDP
@dataclass(frozen=True)
class DistContext:
    """Where this process trains.

    Attributes:
        device: torch device of this process (``cuda:<local_rank>`` under DDP).
        rank, world_size, local_rank: DDP coordinates (0, 1, 0 when not distributed).
        distributed: True when a process group was initialised.
    """

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    distributed: bool = False

    @property
    def is_main(self) -> bool:
        """Only rank 0 logs, evaluates and writes files."""
        return self.rank == 0

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"


def one_line_errors(main):
    """Decorator for a training script's ``main``: an :class:`InputError` is one line on stderr and exit status 2."""
    @functools.wraps(main)
    def run(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except InputError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2

    return run


def setup_device_and_ddp(device: str = "auto", *, threads: int | None = None) -> DistContext:
    """Pick the device and, under ``torchrun``, join the process group.

    Args:
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``.
        threads: CPU threads for torch (``torch.set_num_threads``); None leaves it.

    Under ``torchrun`` (environment ``WORLD_SIZE > 1``) the backend is NCCL on
    CUDA and Gloo on CPU, and each process takes ``cuda:<LOCAL_RANK>``.

    >>> ctx = setup_device_and_ddp("cpu")
    >>> ctx.device.type, ctx.is_main, ctx.world_size
    ('cpu', True, 1)
    """
    if threads:
        torch.set_num_threads(int(threads))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise InputError(None, f"device '{device}' requested but CUDA is not available in torch {torch.__version__}")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext(torch.device(device))
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if str(device).startswith("cuda"):
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
        backend = "nccl"
    else:
        dev = torch.device("cpu")
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistContext(dev, rank, world_size, local_rank, True)


def leave_together(ctx: DistContext) -> None:
    """On the success path: wait until every rank is done (rank 0 evaluates and writes the card alone, for minutes),
    then leave the process group. A rank that left early while rank 0 still worked was seen to abort (SIGABRT,
    "terminate called without an active exception") on a loaded machine."""
    if ctx.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
    cleanup_ddp(ctx)


def cleanup_ddp(ctx: DistContext) -> None:
    """Leave the process group (no-op when not distributed)."""
    if ctx.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def wrap_ddp(model: nn.Module, ctx: DistContext) -> nn.Module:
    """``DistributedDataParallel`` around ``model`` when distributed, else ``model`` itself.

    BatchNorm statistics stay per process (as in the single-GPU recipe); wrap
    with ``nn.SyncBatchNorm.convert_sync_batchnorm`` first if that matters.
    """
    if not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.local_rank] if ctx.is_cuda else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP wrapper (or the module itself)."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def all_reduce_mean(value: float, ctx: DistContext) -> float:
    """Mean of a Python float over all ranks (the value itself when not distributed)."""
    if not ctx.distributed:
        return float(value)
    import torch.distributed as dist

    t = torch.tensor([float(value)], device=ctx.device)
    dist.all_reduce(t)
    return float(t.item()) / ctx.world_size


def average_buffers(model, ctx: DistContext) -> None:
    """Average floating-point buffers (batch-norm running statistics) over the ranks, in place.

    DDP keeps parameters equal on every rank, but each rank's forward pass updates
    its own running statistics from its own batch, so without this the ranks end a
    run with different weights, and validation on rank 0 sees rank 0's statistics
    only. A collective under DDP; a no-op otherwise.
    """
    if not ctx.distributed:
        return
    import torch.distributed as dist

    with torch.no_grad():
        for buf in model.buffers():
            if buf.is_floating_point():
                dist.all_reduce(buf)
                buf.div_(ctx.world_size)
            else:
                dist.broadcast(buf, src=0)


def rank_weight_digests(model, ctx: DistContext) -> list[str]:
    """sha256 of ``model``'s parameters and buffers on every rank, in rank order (one entry when not distributed).

    A collective under DDP: every rank must call it. Identical digests show that the
    ranks ended the run with the same weights, as data-parallel training must.
    """
    import hashlib

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digest = h.hexdigest()
    if not ctx.distributed:
        return [digest]
    import torch.distributed as dist

    out: list = [None] * ctx.world_size
    dist.all_gather_object(out, digest)
    return [str(d) for d in out]


# --------------------------------------------------------------------------- seeding
def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch (CPU + every CUDA device).

    ``deterministic`` also makes cuDNN pick deterministic kernels (slower on
    GPU; CPU kernels used here are deterministic already).

    >>> seed_everything(3); a = torch.rand(2)
    >>> seed_everything(3); bool(torch.equal(a, torch.rand(2)))
    True
    """
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = bool(deterministic)
    torch.backends.cudnn.benchmark = not deterministic


def derive_seed(*parts: int) -> int:
    """A 63-bit seed derived from integers (e.g. run seed, sample index), stable across runs and platforms.

    Data and augmentation draw from ``np.random.default_rng(derive_seed(seed, index))``,
    so a sample depends only on its index, never on worker count or resume point.

    >>> derive_seed(1, 2) == derive_seed(1, 2), derive_seed(1, 2) == derive_seed(2, 1)
    (True, False)
    """
    return int(np.random.SeedSequence([int(p) % 2 ** 63 for p in parts]).generate_state(2, np.uint64)[0] >> np.uint64(1))


# --------------------------------------------------------------------------- mixed precision
def autocast(ctx: DistContext, enabled: bool = True):
    """``torch.autocast`` (float16) on CUDA when ``enabled``; a null context on CPU.

    CPU bfloat16 autocast exists but is slower than float32 on most CPUs
    without AMX and changes results; training here keeps CPU in float32.
    """
    if enabled and ctx.is_cuda:
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def make_grad_scaler(ctx: DistContext, enabled: bool = True) -> "torch.amp.GradScaler":
    """A GradScaler that is active only for CUDA mixed precision (disabled = pass-through)."""
    return torch.amp.GradScaler("cuda", enabled=bool(enabled and ctx.is_cuda))


# --------------------------------------------------------------------------- training state
def _rng_state() -> tuple[dict, dict]:
    tensors = {"rng/torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    np_state = np.random.get_state(legacy=False)
    np_state = {"bit_generator": np_state["bit_generator"],
                "state": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in np_state["state"].items()},
                "has_gauss": np_state["has_gauss"], "gauss": np_state["gauss"]}
    py_version, py_internal, py_gauss = random.getstate()
    meta = {"numpy": np_state, "python": {"version": py_version, "internal": list(py_internal), "gauss": py_gauss}}
    return tensors, meta


def _set_rng_state(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    if "rng/torch_cpu" in tensors:
        torch.set_rng_state(tensors["rng/torch_cpu"].to(torch.uint8).cpu())
    cuda = sorted((k for k in tensors if k.startswith("rng/cuda/")), key=lambda k: int(k.rsplit("/", 1)[1]))
    if cuda and torch.cuda.is_available():
        states = [tensors[k].to(torch.uint8).cpu() for k in cuda][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(states)
    if "numpy" in meta:
        s = meta["numpy"]
        state = {k: (np.asarray(v, dtype=np.uint32) if k == "key" else v) for k, v in s["state"].items()}
        np.random.set_state({"bit_generator": s["bit_generator"], "state": state,
                             "has_gauss": s["has_gauss"], "gauss": s["gauss"]})
    if "python" in meta:
        p = meta["python"]
        random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))


def save_training_state(path: str | os.PathLike, *, models: Mapping[str, nn.Module],
                        optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
                        scalers: Mapping[str, "torch.amp.GradScaler"] | None = None,
                        step: int = 0, epoch: int = 0, extra: Mapping[str, Any] | None = None) -> Path:
    """Write everything needed to resume into one ``.safetensors`` file (atomic, replaces the old one).

    Tensors: ``model/<name>/<key>`` (state dicts), ``optim.<name>/<param id>/<key>``
    (Adam moments, step counters), ``rng/...`` (torch RNG states). JSON
    metadata in the file header: step, epoch, optimiser scalars and param
    groups (learning rates), GradScaler state, NumPy and Python RNG states,
    and ``extra`` (e.g. the adaptive schedule's state). Resume files are
    single-writer: call from the main rank only.

    Returns:
        The path written (``.safetensors`` appended when missing).
    """
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {"step": int(step), "epoch": int(epoch), "extra": dict(extra or {}),
                            "optimizers": {}, "scalers": {}, "models": sorted(models)}
    for name, model in models.items():
        for k, v in unwrap(model).state_dict().items():
            tensors[f"model/{name}/{k}"] = v
    for name, opt in (optimizers or {}).items():
        # The checkpoint helper splits names at the first "/", so the prefix has none.
        t, m = optimizer_state_to_tensors(opt.state_dict(), prefix=f"optim.{name}")
        tensors.update(t)
        meta["optimizers"][name] = m
    for name, scaler in (scalers or {}).items():
        meta["scalers"][name] = {k: (float(v) if isinstance(v, float) else v) for k, v in scaler.state_dict().items()}
    rng_t, rng_m = _rng_state()
    tensors.update(rng_t)
    meta["rng"] = rng_m
    return save_state(path, tensors, meta, overwrite=True)


def load_training_state(path: str | os.PathLike, *, models: Mapping[str, nn.Module],
                        optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
                        scalers: Mapping[str, "torch.amp.GradScaler"] | None = None,
                        device: str | torch.device = "cpu", restore_rng: bool = True) -> dict:
    """Restore what :func:`save_training_state` wrote; returns ``{"step", "epoch", "extra"}``.

    Raises:
        CheckpointError: missing/unreadable file, or models/optimisers that do
            not match the saved ones (named).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "training state not found; nothing to resume from")
    tensors, meta = load_state(path, device="cpu")
    for name, model in models.items():
        prefix = f"model/{name}/"
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if not state:
            raise CheckpointError(path, f"holds no weights for model '{name}' (has: {', '.join(meta.get('models', []))})")
        try:
            unwrap(model).load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise CheckpointError(path, f"weights of '{name}' do not fit this network: "
                                        f"{str(err).splitlines()[0]}") from None
    for name, opt in (optimizers or {}).items():
        if name not in meta["optimizers"]:
            raise CheckpointError(path, f"holds no state for optimiser '{name}'")
        sub = {k: v for k, v in tensors.items() if k.startswith(f"optim.{name}/")}
        try:
            opt.load_state_dict(optimizer_state_from_tensors(sub, meta["optimizers"][name]))
        except (ValueError, KeyError) as err:
            raise CheckpointError(path, f"optimiser '{name}' state does not fit: {err}") from None
        # Optimiser moments must live where the parameters are.
        for st in opt.state.values():
            for k, v in st.items():
                if isinstance(v, torch.Tensor) and k != "step":
                    st[k] = v.to(device)
    for name, scaler in (scalers or {}).items():
        if name in meta["scalers"]:
            scaler.load_state_dict(meta["scalers"][name])
    if restore_rng:
        _set_rng_state(tensors, meta.get("rng", {}))
    return {"step": int(meta["step"]), "epoch": int(meta["epoch"]), "extra": meta.get("extra", {})}


# --------------------------------------------------------------------------- budget / progress / logs
class RunBudget:
    """Stop after ``max_steps`` optimiser steps or ``max_minutes`` of wall time (0/None = no limit).

    >>> b = RunBudget(max_steps=2)
    >>> b.exhausted(1), b.exhausted(2), b.reason
    (False, True, 'max_steps=2 reached')
    """

    def __init__(self, max_steps: int | None = None, max_minutes: float | None = None):
        self.max_steps = int(max_steps) if max_steps else None
        self.max_minutes = float(max_minutes) if max_minutes else None
        self.start = time.monotonic()
        self.reason = ""

    def elapsed_minutes(self) -> float:
        return (time.monotonic() - self.start) / 60.0

    def exhausted(self, step: int) -> bool:
        if self.max_steps is not None and step >= self.max_steps:
            self.reason = f"max_steps={self.max_steps} reached"
            return True
        if self.max_minutes is not None and self.elapsed_minutes() >= self.max_minutes:
            self.reason = f"max_minutes={self.max_minutes:g} reached after {self.elapsed_minutes():.2f} min"
            return True
        return False


class _SilentBar:
    def __init__(self, iterable=None, **_):
        self.iterable = iterable
        self.n = 0

    def __iter__(self):
        return iter(self.iterable if self.iterable is not None else ())

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def set_description(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
                 enabled: bool = True, initial: int = 0):
    """A tqdm bar on stderr when ``enabled`` (pass ``ctx.is_main``), else a silent stand-in with the same methods."""
    if not enabled:
        return _SilentBar(iterable)
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, initial=initial, dynamic_ncols=True, leave=False,
                file=sys.stderr, mininterval=1.0)



def prepare_run_dir(out: str | os.PathLike, ctx: "DistContext", *, resume, overwrite: bool) -> Path:
    """Create the run folder on rank 0: refuse a non-empty one unless resuming or overwriting.

    ``overwrite`` (without ``resume``) deletes the old run first. Every rank
    waits for rank 0 before going on.
    """
    out = Path(out)
    if ctx.is_main:
        if out.exists() and any(out.iterdir()) and not resume and not overwrite:
            raise InputError(out, "output folder is not empty; pass --resume auto to continue the run "
                                  "or --overwrite to start again")
        if overwrite and not resume and out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
    if ctx.distributed:
        import torch.distributed

        torch.distributed.barrier()
    return out

def setup_logging(out_dir: str | os.PathLike | None, ctx: DistContext | None = None, *,
                  quiet: bool = False) -> logging.Logger:
    """Log ``training`` messages to stderr and ``<out_dir>/train.log`` (main rank only)."""
    logger = logging.getLogger("training")
    logger.setLevel(logging.INFO)
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    if ctx is not None and not ctx.is_main:
        logger.addHandler(logging.NullHandler())
        return logger
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    if not quiet:
        sh = logging.StreamHandler(sys.stderr)
        sh.setFormatter(fmt)
        logger.addHandler(sh)
    if out_dir is not None:
        fh = logging.FileHandler(Path(out_dir) / "train.log", encoding="utf-8")
        fh.setFormatter(fmt)
        logger.addHandler(fh)
    logger.propagate = False
    return logger


class MetricsLog:
    """Per-epoch rows in ``log.jsonl`` (appended) and ``log.csv`` (rewritten from all rows).

    On resume, rows after the resumed step are dropped so the log matches the
    training that actually continues.
    """

    def __init__(self, out_dir: str | os.PathLike, enabled: bool = True, *, resume_step: int | None = None):
        self.enabled = enabled
        self.jsonl = Path(out_dir) / "log.jsonl"
        self.csv = Path(out_dir) / "log.csv"
        self.rows: list[dict] = []
        if enabled and self.jsonl.exists():
            with open(self.jsonl, encoding="utf-8") as fh:
                rows = [json.loads(line) for line in fh if line.strip()]
            if resume_step is not None:
                rows = [r for r in rows if r.get("step", 0) <= resume_step]
            self.rows = rows
            self._rewrite_jsonl()

    def _rewrite_jsonl(self) -> None:
        with atomic_text_file(self.jsonl, overwrite=True) as fh:
            for r in self.rows:
                fh.write(json.dumps(r, allow_nan=True) + "\n")

    def append(self, row: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        row = {k: (float(v) if isinstance(v, (np.floating,)) else v) for k, v in row.items()}
        self.rows.append(row)
        with open(self.jsonl, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, allow_nan=True) + "\n")
        fields: list[str] = []
        for r in self.rows:
            fields += [k for k in r if k not in fields]
        with atomic_text_file(self.csv, overwrite=True, newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields, restval="", lineterminator="\n")
            w.writeheader()
            for r in self.rows:
                w.writerow({k: (_fmt(v)) for k, v in r.items()})


def _fmt(v: Any) -> Any:
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:.6g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return v


# --------------------------------------------------------------------------- JSON
def json_safe(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
