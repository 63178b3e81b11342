"""Group-level data splits: a patient or surgery is never split across train/val/test.

All functions take ``groups``: one group id (patient id, surgery ``<op>``) per
sample, hashable and mutually sortable (e.g. all str). They return sample index
lists plus the group lists, deterministic for a given ``seed`` (Python's
``random.Random``, stable across Python and NumPy versions).

>>> s = train_val_test_split(["p1", "p1", "p2", "p3", "p4", "p5"], seed=0)
>>> sorted(s.train_groups + s.val_groups + s.test_groups)
['p1', 'p2', 'p3', 'p4', 'p5']
>>> len(s.test_groups), len(s.val_groups), len(s.train_groups)
(2, 1, 2)
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Hashable, Sequence

from heatmap_landmarks.errors import InputError

#: Folds used by the AdaptOR 2021 cross-validation: one per simulation/patient group.
ADAPTOR_FOLDS = {"sim": 5, "intraop": 4}


@dataclass(frozen=True)
class GroupSplit:
    """Sample indices (ascending) and group ids of one train/val/test split."""

    train: list
    val: list
    test: list
    train_groups: list
    val_groups: list
    test_groups: list


def unique_groups(groups: Sequence[Hashable]) -> list:
    """Distinct group ids in a fixed order (sorted), independent of sample order."""
    try:
        return sorted(set(groups), key=lambda g: (type(g).__name__, g))
    except TypeError:
        raise InputError(None, "group ids must be hashable and comparable (e.g. all strings)") from None


def _count(n: int, fraction: float, what: str) -> int:
    """How many of ``n`` groups go to the smaller part: rounded half up, at least 1, leaving at least 1."""
    if not 0.0 <= fraction < 1.0:
        raise InputError(None, f"{what} fraction must be in [0, 1), got {fraction}")
    if fraction == 0.0:
        return 0
    if n < 2:
        raise InputError(None, f"need at least 2 groups for a {what} split, got {n}")
    return min(max(int(math.floor(n * fraction + 0.5)), 1), n - 1)


def _indices(groups: Sequence[Hashable], chosen) -> list:
    chosen = set(chosen)
    return [i for i, g in enumerate(groups) if g in chosen]


def _split(group_ids: list, fraction: float, rng: random.Random, what: str) -> tuple[list, list]:
    shuffled = list(group_ids)
    rng.shuffle(shuffled)
    n_small = _count(len(shuffled), fraction, what)
    return sorted(shuffled[n_small:], key=group_ids.index), sorted(shuffled[:n_small], key=group_ids.index)


def _make(groups, train_g, val_g, test_g) -> GroupSplit:
    indices = [_indices(groups, part) for part in (train_g, val_g, test_g)]
    return GroupSplit(*indices, train_g, val_g, test_g)


def train_val_test_split(
    groups: Sequence[Hashable], *, test_fraction: float = 0.3, val_fraction: float = 0.2, seed: int = 0
) -> GroupSplit:
    """Patient-level split: ``test_fraction`` of the groups to test (70/30), then
    ``val_fraction`` of the remaining groups to validation (80/20).

    Fractions count groups, not samples; each non-empty part gets at least one group.
    """
    group_ids = unique_groups(groups)
    rng = random.Random(seed)
    rest, test = _split(group_ids, test_fraction, rng, "test")
    train, val = _split(rest, val_fraction, rng, "validation")
    return _make(groups, train, val, test)


def kfold_splits(
    groups: Sequence[Hashable],
    k: int,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    balance: str = "groups",
) -> list[GroupSplit]:
    """K-fold cross-validation at group level: every group is in exactly one fold's test part.

    Within each fold, ``val_fraction`` of the remaining groups become validation.
    ``balance="groups"``: folds differ by at most one group (patients).
    ``balance="samples"``: groups are assigned largest-first to the fold with the
    fewest samples (surgeries of unequal length).
    """
    if k < 2:
        raise InputError(None, f"k-fold needs k >= 2, got {k}")
    if balance not in ("groups", "samples"):
        raise ValueError(f"balance must be 'groups' or 'samples', got {balance!r}")
    group_ids = unique_groups(groups)
    if len(group_ids) < k:
        raise InputError(None, f"{k}-fold split needs at least {k} groups, got {len(group_ids)}")
    shuffled = list(group_ids)
    random.Random(seed).shuffle(shuffled)
    folds: list[list] = [[] for _ in range(k)]
    if balance == "groups":
        for n, g in enumerate(shuffled):
            folds[n % k].append(g)
    else:
        sizes = {g: 0 for g in group_ids}
        for g in groups:
            sizes[g] += 1
        fold_sizes = [0] * k
        for g in sorted(shuffled, key=lambda g: -sizes[g]):  # stable: ties keep the shuffled order
            f = min(range(k), key=lambda f: (fold_sizes[f], len(folds[f]), f))
            folds[f].append(g)
            fold_sizes[f] += sizes[g]
    splits = []
    for f in range(k):
        test = sorted(folds[f], key=group_ids.index)
        in_test = set(test)
        rest = [g for g in group_ids if g not in in_test]
        train, val = _split(rest, val_fraction, random.Random(seed * 1_000_003 + f + 1), "validation")
        splits.append(_make(groups, train, val, test))
    return splits


def adaptor_folds(
    ops: Sequence[Hashable], domain: str, *, val_fraction: float = 0.0, seed: int = 0
) -> list[GroupSplit]:
    """AdaptOR surgery-level folds: 5 for ``domain="sim"``, 4 for ``"intraop"``.

    ``ops`` is the ``<op>`` folder of each frame; a surgery never spans two folds.
    Folds are balanced by frame count.
    """
    if domain not in ADAPTOR_FOLDS:
        raise InputError(None, f"AdaptOR domain must be one of {sorted(ADAPTOR_FOLDS)}, got {domain!r}")
    return kfold_splits(ops, ADAPTOR_FOLDS[domain], val_fraction=val_fraction, seed=seed, balance="samples")


def stratified_split(
    groups: Sequence[Hashable],
    strata: Sequence[Hashable],
    *,
    test_per_stratum: int,
    val_per_stratum: int,
    seed: int = 0,
) -> GroupSplit:
    """Group-level split that takes the same number of groups from every stratum.

    ``strata``: one stratum (e.g. the ACDC pathology group) per sample; a group must
    have one stratum. From each stratum, ``test_per_stratum`` groups go to test and
    ``val_per_stratum`` to validation; the rest train. Deterministic for ``seed``.

    >>> g = [f"p{i}" for i in range(6)]; s = ["A", "A", "A", "B", "B", "B"]
    >>> sp = stratified_split(g, s, test_per_stratum=1, val_per_stratum=1, seed=0)
    >>> len(sp.test_groups), len(sp.val_groups), len(sp.train_groups)
    (2, 2, 2)
    """
    if len(groups) != len(strata):
        raise InputError(None, f"need one stratum per sample, got {len(strata)} for {len(groups)} samples")
    if test_per_stratum < 0 or val_per_stratum < 0:
        raise InputError(None, "test_per_stratum and val_per_stratum must be >= 0")
    stratum_of: dict = {}
    for g, s in zip(groups, strata):
        if stratum_of.setdefault(g, s) != s:
            raise InputError(None, f"group {g!r} has two strata: {stratum_of[g]!r} and {s!r}")
    rng = random.Random(seed)
    train, val, test = [], [], []
    for stratum in unique_groups(list(stratum_of.values())):
        members = [g for g in unique_groups(list(stratum_of)) if stratum_of[g] == stratum]
        if len(members) <= test_per_stratum + val_per_stratum:
            raise InputError(None, f"stratum {stratum!r} has {len(members)} groups; need more than "
                                   f"{test_per_stratum + val_per_stratum} to leave some for training")
        rng.shuffle(members)
        test += members[:test_per_stratum]
        val += members[test_per_stratum:test_per_stratum + val_per_stratum]
        train += members[test_per_stratum + val_per_stratum:]
    order = unique_groups(groups)
    key = order.index
    return _make(groups, sorted(train, key=key), sorted(val, key=key), sorted(test, key=key))
