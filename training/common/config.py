"""The one typed config loader of the training code: nested dataclasses from JSON (or YAML with PyYAML).

Every training config (cardiac GAN: :mod:`training.cardiac.config`; sutures:
:mod:`training.sutures.config`; CycleGAN: :mod:`training.cyclegan.config`) is a
dataclass read by :func:`load_config` / :func:`config_from_dict`. Unknown keys,
wrong types and invalid values raise :class:`ConfigError` (an
:class:`~heatmap_landmarks.errors.InputError`), one line naming the file, the
(dotted) key and, for JSON/YAML files, the line::

    training/configs/x.json:12: unknown key 'loss.huber_detla'; valid keys are ...

Types come from the annotations (int, float, bool, str, list, dict, Optional,
nested dataclasses = sections); ranges are checked in each class's
``__post_init__`` with :func:`check` / :func:`check_pair`, which raise
``ConfigError("'key' ...")``; the loader then adds file, dotted key and line.
Top-level configs derive from :class:`TrainConfig` (``from_dict``, ``load``, ``to_dict``).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Mapping

from heatmap_landmarks.errors import InputError

__all__ = [
    "ConfigError",
    "TrainConfig",
    "check",
    "check_pair",
    "is_number",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "parse_seed_range",
]


class ConfigError(InputError):
    """A bad value or key in a training config (one line, names file, key and line)."""


# --------------------------------------------------------------------------- generic loader
def _line_of(text: str | None, key: str) -> int | None:
    """1-based line where ``key`` first appears as a JSON/YAML key, or None."""
    if not text:
        return None
    leaf = key.rsplit(".", 1)[-1]
    pattern = re.compile(r'(^|[\s{,])["\']?' + re.escape(leaf) + r'["\']?\s*:')
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.search(line):
            return number
    return None


def _where(source: str | None, text: str | None, key: str) -> str | None:
    line = _line_of(text, key)
    if source is None:
        return None
    return f"{source}:{line}" if line else source


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp, key: str, source, text):
    """Check/convert ``value`` against the annotation ``tp`` (int, float, bool, str, list, dict, Optional, dataclass)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        last_err = None
        for a in inner:
            try:
                return _convert(value, a, key, source, text)
            except ConfigError as err:
                last_err = err
        raise last_err  # type: ignore[misc]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(_where(source, text, key), f"'{key}' must be a mapping (section), got {value!r}")
        return _from_dict(tp, value, key + ".", source, text)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(_where(source, text, key), f"'{key}' must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(_where(source, text, key), f"'{key}' must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(_where(source, text, key), f"'{key}' must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(_where(source, text, key), f"'{key}' must be a string, got {value!r}")
        return value
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(_where(source, text, key), f"'{key}' must be a list, got {value!r}")
        item = args[0] if args else None
        out = [(_convert(v, item, f"{key}[{i}]", source, text) if item not in (None, Ellipsis) else v)
               for i, v in enumerate(value)]
        return list(out)
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(_where(source, text, key), f"'{key}' must be a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    raise TypeError(f"config field {key}: unsupported annotation {tp!r}")


def _from_dict(cls, data: Mapping[str, Any], prefix: str, source, text):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = prefix + str(unknown[0])
        raise ConfigError(_where(source, text, key),
                          f"unknown key '{key}'; valid keys {'in ' + repr(prefix[:-1]) + ' ' if prefix else ''}are "
                          f"{', '.join(fields)}")
    kwargs = {name: _convert(value, hints[name], prefix + name, source, text) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as err:
        # __post_init__ validation: attach the file and the line of the key it names.
        match = re.match(r"'([^']+)'", err.problem)
        key = prefix + match.group(1) if match else prefix[:-1]
        raise ConfigError(_where(source, text, key) or err.source,
                          err.problem if not prefix else err.problem.replace(f"'{match.group(1)}'", f"'{key}'", 1)
                          if match else err.problem) from None
    except InputError as err:  # e.g. a network config class rejecting a key
        raise ConfigError(_where(source, text, prefix[:-1]) or source, err.problem) from None


def config_from_dict(cls, data: Mapping[str, Any], *, source: str | os.PathLike | None = None,
                     text: str | None = None):
    """Build the dataclass ``cls`` from nested dicts; see the module docstring for errors.

    >>> @dataclass
    ... class Optim:
    ...     batch_size: int = 8
    >>> config_from_dict(Optim, {"batch_size": 4}).batch_size
    4
    >>> config_from_dict(Optim, {"batch_sise": 4})
    Traceback (most recent call last):
    ...
    training.common.config.ConfigError: unknown key 'batch_sise'; valid keys are batch_size
    """
    if not isinstance(data, Mapping):
        raise ConfigError(source, f"config must be a mapping at the top level, got {type(data).__name__}")
    return _from_dict(cls, data, "", None if source is None else os.fspath(source), text)


def config_to_dict(cfg) -> dict:
    """Plain JSON-able dict of a config dataclass (inverse of :func:`config_from_dict`)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def load_config(path: str | os.PathLike, cls, overrides: Mapping[str, Any] | None = None):
    """Read a ``.json`` (or ``.yaml``/``.yml``, needs PyYAML) config into the dataclass ``cls``.

    ``overrides``: dotted keys -> values applied on top (e.g. ``{"optim.max_steps": 10}``).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError(path, "config file not found")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise ConfigError(path, "YAML configs need PyYAML (pip install 'heatmap-landmarks[training]'); "
                                    "or write the config as JSON") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(path, f"invalid YAML: {' '.join(str(err).split())}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}:{err.lineno}", f"invalid JSON: {err.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(path, "config must be a mapping at the top level")
    for dotted, value in (overrides or {}).items():
        node = data
        parts = dotted.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return config_from_dict(cls, data, source=path, text=text)


def parse_seed_range(text: str, what: str = "seed range") -> range:
    """``"a:b"`` -> ``range(a, b)`` (b exclusive).

    >>> parse_seed_range("100000:100200")
    range(100000, 100200)
    """
    try:
        lo, hi = (int(v) for v in str(text).split(":"))
    except ValueError:
        raise InputError(None, f"{what} must be 'start:stop' integers, got {text!r}") from None
    if not 0 <= lo < hi:
        raise InputError(None, f"{what} must satisfy 0 <= start < stop, got {text!r}")
    return range(lo, hi)


# --------------------------------------------------------------------------- checks for __post_init__
def check(ok: bool, key: str, problem: str) -> None:
    """Raise ``ConfigError("'key' problem")`` unless ``ok``; the loader adds the file, the dotted key and the line.

    Every config's ``__post_init__`` checks its ranges with this (and :func:`check_pair`), so that a bad
    value in any training config reads the same::

        training/configs/x.json:7: 'optim.batch_size' must be >= 1
    """
    if not ok:
        raise ConfigError(None, f"'{key}' {problem}")


def is_number(value, *, integer: bool = False) -> bool:
    """``value`` is an int or float (an int when ``integer``), not a bool: for checks of configs built in code."""
    kinds = int if integer else (int, float)
    return not isinstance(value, bool) and isinstance(value, kinds)


def check_pair(value, key: str, lo=-math.inf, hi=math.inf) -> None:
    """``value`` is ``[low, high]`` with ``lo <= low <= high <= hi``."""
    check(isinstance(value, (list, tuple)) and len(value) == 2
          and all(is_number(v) for v in value)
          and value[0] <= value[1] and lo <= value[0] and value[1] <= hi, key,
          f"must be [low, high] with {lo} <= low <= high <= {hi}, got {value}")


class TrainConfig:
    """Base of the top-level training configs: one way to build, read and write each of them."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source=None):
        """Build from nested dicts (unknown keys and wrong types are errors naming the key)."""
        return config_from_dict(cls, data, source=source)

    @classmethod
    def load(cls, path: str | os.PathLike, overrides: Mapping[str, Any] | None = None):
        """Read a JSON (or YAML) config file; ``overrides``: dotted keys -> values applied on top."""
        return load_config(path, cls, overrides)

    def to_dict(self) -> dict:
        return config_to_dict(self)
