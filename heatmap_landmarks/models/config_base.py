"""Shared behaviour of the network config dataclasses.

Every network in :mod:`heatmap_landmarks.models` is built from one typed
config dataclass. The config is what a model card stores (as a plain dict), so
it must round-trip through JSON exactly and reject keys it does not know: a
typo in a card must fail loudly instead of silently building a default network.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, TypeVar

from ..errors import InputError

C = TypeVar("C", bound="ModelConfig")


@dataclasses.dataclass
class ModelConfig:
    """Base class: ``to_dict``/``from_dict`` and validation helpers.

    Subclasses are dataclasses whose ``__post_init__`` validates every field
    and raises :class:`~heatmap_landmarks.errors.InputError` naming the config
    class and the bad field.
    """

    # -- (de)serialisation -----------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable dict (tuples become lists)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of the config fields, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls: type[C], d: Mapping[str, Any] | None) -> C:
        """Build from a dict; unknown keys are an error naming them.

        Missing keys take their defaults.
        """
        if d is None:
            d = {}
        if not isinstance(d, Mapping):
            raise InputError(None, f"{cls.__name__}: config must be a dict, got {type(d).__name__}")
        known = cls.field_names()
        unknown = sorted(str(k) for k in d if k not in known)
        if unknown:
            raise InputError(
                None,
                f"{cls.__name__}: unknown config key(s) {', '.join(repr(k) for k in unknown)}; "
                f"valid keys are {', '.join(known)}",
            )
        return cls(**dict(d))

    # -- validation helpers for subclasses ---------------------------------
    def _fail(self, problem: str) -> None:
        raise InputError(None, f"{type(self).__name__}: {problem}")

    def _check_int(self, name: str, minimum: int = 1) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, int):
            self._fail(f"{name} must be an integer, got {value!r}")
        if value < minimum:
            self._fail(f"{name} must be >= {minimum}, got {value}")

    def _check_choice(self, name: str, choices: tuple) -> None:
        value = getattr(self, name)
        if value not in choices:
            self._fail(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")

    def _check_probability(self, name: str) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            self._fail(f"{name} must be a probability in [0, 1), got {value!r}")
        setattr(self, name, float(value))

    def _check_bool(self, name: str) -> None:
        value = getattr(self, name)
        if not isinstance(value, bool):
            self._fail(f"{name} must be true or false, got {value!r}")

    def _check_int_tuple(self, name: str, length: int | None = None) -> None:
        value = getattr(self, name)
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            self._fail(f"{name} must be a list of positive integers, got {value!r}")
        value = tuple(value)
        if not value or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
            self._fail(f"{name} must be a non-empty list of positive integers, got {list(value)}")
        if length is not None and len(value) != length:
            self._fail(f"{name} must have {length} entries, got {len(value)}")
        setattr(self, name, value)
