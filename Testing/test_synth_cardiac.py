"""Tests of training/cardiac/synth.py and the real/synthetic/phantom training mix (cardiac_data.MixedCardiacDataset)."""
from __future__ import annotations

import doctest
import json

import numpy as np
import pytest
import SimpleITK as sitk

from heatmap_landmarks.cardiac.segmentation import ACDC_LABELS
from training.cardiac import synth as synth_cardiac
from training.cardiac.data import MixedCardiacDataset, load_real_cardiac, split_real_items
from training.cardiac.config import CardiacTrainConfig
from training.common.config import ConfigError, config_from_dict
from training.cardiac.synth import OUTSIDE, class_map, synthesise


def _slice(shape=(64, 64)):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    r2 = (yy - 32) ** 2 + (xx - 36) ** 2
    label = np.zeros(shape, np.uint8)
    label[(r2 > 100) & (r2 <= 256) & (xx < 30)] = 1
    label[r2 <= 100] = 2
    label[r2 <= 36] = 3
    image = np.where(label == 3, 200.0, np.where(label == 2, 50.0, np.where(label == 1, 180.0, 0.0)))
    image = image + 40.0 * (xx > 50)  # two background tissues
    return label, image.astype(np.float32)


def test_doctests():
    assert doctest.testmod(synth_cardiac).failed == 0


def test_class_map_keeps_heart_labels_and_bins_the_background():
    label, image = _slice()
    cm = class_map(label, image, ACDC_LABELS, n_background=3)
    assert set(np.unique(cm[label == 1])) == {1} and set(np.unique(cm[label == 3])) == {3}
    assert set(np.unique(cm[label == 2])) == {2}
    assert set(np.unique(cm[label == 0])) <= {4, 5, 6} and len(np.unique(cm[label == 0])) >= 2


@pytest.mark.parametrize("seed", range(8))
def test_synthesise_is_deterministic_normalised_and_keeps_the_myocardium_visible(seed):
    label, image = _slice()
    cm = class_map(label, image, ACDC_LABELS)
    cm[:, :4] = OUTSIDE
    a = synthesise(cm, np.random.default_rng(seed))
    b = synthesise(cm, np.random.default_rng(seed))
    assert a.dtype == np.float32 and a.shape == cm.shape and np.array_equal(a, b)
    assert a.min() >= 0.0 and a.max() <= 1.0 and np.all(a[:, :4] == 0.0)
    inner = lambda k: np.median(a[(label == k) & (cm != OUTSIDE)])  # noqa: E731
    assert abs(inner(2) - inner(3)) > 0.03  # myocardium vs LV cavity: the landmarks stay visible


def test_synthesised_contrasts_differ_between_draws():
    label, image = _slice()
    cm = class_map(label, image, ACDC_LABELS)
    lv = [float(np.median(synthesise(cm, np.random.default_rng(s))[label == 3])) for s in range(12)]
    assert max(lv) - min(lv) > 0.3


def _acdc_root(tmp_path, n_per_group=3):
    label, image = _slice()
    for g, group in enumerate(("NOR", "DCM")):
        for k in range(n_per_group):
            pid = f"patient{g * 10 + k + 1:03d}"
            folder = tmp_path / pid
            folder.mkdir()
            (folder / "Info.cfg").write_text(f"ED: 1\nES: 2\nGroup: {group}\n")
            for stem, arr in ((f"{pid}_frame01", image[None]), (f"{pid}_frame01_gt", label[None])):
                img = sitk.GetImageFromArray(arr)
                img.SetSpacing((1.4, 1.4, 8.0))
                sitk.WriteImage(img, str(folder / f"{stem}.nii.gz"))
    return tmp_path


def _cfg(root, **data):
    base = {"source": "acdc", "root": str(root), "acdc_labels": "gt", "input_size": [64, 64], "spacing_mm": 1.4,
            "test_per_stratum": 1, "val_per_stratum": 1, "val_seeds": "90000:90004"}
    base.update(data)
    return config_from_dict(CardiacTrainConfig, {"data": base}).data


def test_real_acdc_items_carry_class_maps_strata_and_a_stratified_split(tmp_path):
    d = _cfg(_acdc_root(tmp_path))
    items, report = load_real_cardiac(d, mode="per_landmark")
    assert len(items) == 6 and all(it.classes is not None and it.classes.shape == (64, 64) for it in items)
    assert all(it.supervised.all() for it in items)  # masks are complete: absent landmarks are known
    train, val, test, split = split_real_items(items, d, seed=0)
    assert len(split.test_groups) == 2 and len(split.val_groups) == 2 and len(split.train_groups) == 2
    assert sorted(it.stratum for it in test) == ["DCM", "NOR"]


def test_mixed_dataset_draws_each_source_by_its_fraction(tmp_path):
    d = _cfg(_acdc_root(tmp_path), synth_fraction=0.5, phantom_fraction=0.2)
    items, _ = load_real_cardiac(d, mode="per_landmark")
    mix = MixedCardiacDataset(items, d, seed=1, synth_fraction=0.5, phantom_fraction=0.2)
    kinds = [mix.item(i).source.split(":")[0] for i in range(300)]
    counts = {k: kinds.count(k) / len(kinds) for k in ("synth", "phantom")}
    assert abs(counts["synth"] - 0.5) < 0.1 and abs(counts["phantom"] - 0.2) < 0.08
    a, b = mix.item(7), mix.item(7)
    assert np.array_equal(a.image, b.image)  # deterministic in (seed, index)
    synth = next(mix.item(i) for i in range(300) if mix.item(i).source.startswith("synth"))
    assert synth.image.shape == (64, 64) and np.array_equal(synth.points, items[0].points, equal_nan=True)


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"source": "phantom", "synth_fraction": 0.2}, "apply to real-data training only"),
        ({"source": "acdc", "root": "x", "acdc_labels": "rvip", "synth_fraction": 0.2}, "needs label maps"),
        ({"source": "acdc", "root": "x", "synth_fraction": 0.7, "phantom_fraction": 0.5, "acdc_labels": "gt"},
         "at most 1"),
        ({"source": "acdc", "root": "x", "acdc_labels": "masks"}, "must be gt or rvip"),
        ({"source": "acdc", "root": "x", "test_per_stratum": 2}, "must be > 0 with a stratified split"),
    ],
)
def test_mix_config_errors(data, fragment):
    with pytest.raises(ConfigError, match=fragment):
        config_from_dict(CardiacTrainConfig, json.loads(json.dumps({"data": data})))
