"""Tests of heatmap_landmarks.checkpoint: safetensors + JSON model card, sha256, strict loading."""
from __future__ import annotations

import dataclasses
import json
import pickle
import struct

import pytest
import torch
from safetensors.torch import save_file

from heatmap_landmarks.catalog import WEIGHTS_DIR
from heatmap_landmarks.checkpoint import (
    FORMAT_VERSION,
    ModelCard,
    load_card,
    load_checkpoint,
    load_state,
    optimizer_state_from_tensors,
    optimizer_state_to_tensors,
    save_checkpoint,
    save_state,
    sha256_file,
)
from heatmap_landmarks.errors import CheckpointError, OutputExistsError
from heatmap_landmarks.models import CardiacGenerator, CardiacGeneratorConfig, build_model

torch.set_num_threads(1)

CASES = {
    "CardiacGenerator": dict(
        config={"base_width": 4, "depth": 3, "out_channels": 3}, task="cardiac", view="sax",
        landmark_names=["RVI-1", "RVI-2", "LVC"], heatmap_mode="per_landmark", input_size=[32, 32],
        input_spacing_mm=1.5, normalisation={"method": "percentile", "low": 1, "high": 99},
        inputs=lambda: (torch.rand(2, 1, 32, 32),)),
    "PatchDiscriminator": dict(
        config={"in_channels": 2, "base_width": 4, "n_layers": 4, "n_strided": 4}, task="cardiac", view="lax",
        landmark_names=["MV-1", "MV-2"], heatmap_mode="single", input_size=[32, 32],
        inputs=lambda: (torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32))),
    "ResNeXtUNet": dict(
        config={"encoder_widths": [8, 16, 16], "bottleneck_width": 32, "cardinality": 4}, task="sutures",
        view=None, landmark_names=["suture"], heatmap_mode="single", input_size=[32, 64],
        normalisation={"method": "mean_std", "mean": [0.5] * 3, "std": [0.25] * 3},
        inputs=lambda: (torch.rand(2, 3, 32, 64),)),
    "ResnetGenerator": dict(
        config={"ngf": 4, "n_blocks": 1}, task="sutures", view=None, landmark_names=["suture"],
        heatmap_mode="single", input_size=[16, 16], inputs=lambda: (torch.rand(2, 3, 16, 16) * 2 - 1,)),
}


def make_card(architecture: str, **changes) -> ModelCard:
    case = {k: v for k, v in CASES[architecture].items() if k != "inputs"}
    decoder = {"threshold": None} if case["task"] == "sutures" else {"level": 0.5}  # cards validate their decoder
    fields = dict(name=f"tiny-{architecture}", architecture=architecture, sigma2=5.0,
                  training_data="synthetic phantom only", decoder=decoder, **case)
    fields.update(changes)
    return ModelCard(**fields)


def trained(architecture: str, seed: int = 0):
    """Tiny model whose BN running statistics differ from their defaults."""
    torch.manual_seed(seed)
    model = build_model(architecture, CASES[architecture]["config"])
    model.train()
    with torch.no_grad():
        model(*CASES[architecture]["inputs"]())
    return model.eval()


@pytest.mark.parametrize("architecture", sorted(CASES))
def test_round_trip_gives_identical_outputs(tmp_path, architecture):
    model = trained(architecture)
    weights, card_path = save_checkpoint(model, make_card(architecture), tmp_path / "net")
    assert (weights.name, card_path.name) == ("net.safetensors", "net.json")
    inputs = CASES[architecture]["inputs"]()
    with torch.no_grad():
        expected = model(*inputs)
    for path in (card_path, weights, tmp_path / "net"):   # card, weights or stem all work
        loaded, card = load_checkpoint(path)
        assert not loaded.training
        with torch.no_grad():
            assert torch.equal(loaded(*inputs), expected)
    assert card.sha256 == sha256_file(weights) and card.weights_file == "net.safetensors"
    assert card.landmark_names == CASES[architecture]["landmark_names"]
    # The saved card lists the full config, defaults included.
    assert set(card.config) == set(type(model.config).field_names())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json", "net.safetensors"]  # no temp files


def test_weights_file_is_safetensors_not_pickle(tmp_path):
    weights, _ = save_checkpoint(trained("CardiacGenerator"), make_card("CardiacGenerator"), tmp_path / "w.json")
    raw = weights.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])       # 8-byte little-endian header length ...
    assert raw[8:9] == b"{"                              # ... then a JSON header
    header = json.loads(raw[8:8 + header_len])
    assert "encoder.0.1.running_mean" in header           # BN buffers are saved too
    assert not raw.startswith((b"PK", b"\x80"))          # neither torch.save zip nor raw pickle


def test_loading_never_unpickles(tmp_path, monkeypatch):
    _, card_path = save_checkpoint(trained("ResNeXtUNet"), make_card("ResNeXtUNet"), tmp_path / "s")

    def forbidden(*args, **kwargs):
        raise AssertionError("checkpoint loading must not unpickle")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    model, _ = load_checkpoint(card_path)
    assert model.config.cardinality == 4


def test_tampered_weights_are_refused(tmp_path):
    weights, card_path = save_checkpoint(trained("CardiacGenerator"), make_card("CardiacGenerator"), tmp_path / "c")
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01                          # flip one bit of one tensor byte
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256 mismatch: card says [0-9a-f]{64}, file is [0-9a-f]{64}") as err:
        load_checkpoint(card_path)
    assert str(weights) in str(err.value) and "\n" not in str(err.value)


def test_card_config_that_does_not_fit_the_weights_names_tensor_and_shapes(tmp_path):
    model16 = build_model("CardiacGenerator", {"base_width": 16, "depth": 3, "out_channels": 3})
    _, card_path = save_checkpoint(model16, make_card("CardiacGenerator", config={"base_width": 16, "depth": 3,
                                                                                  "out_channels": 3}),
                                   tmp_path / "c")
    card = json.loads(card_path.read_text())
    card["config"]["base_width"] = 8                      # the card lies about the width
    card_path.write_text(json.dumps(card))
    with pytest.raises(CheckpointError,
                       match=r"encoder\.0\.0\.weight: config expects \(8, 1, 3, 3\), file has \(16, 1, 3, 3\)"):
        load_checkpoint(card_path)
    card["architecture"] = "ResNeXtUNet"
    card["config"] = {"cardinality": 4, "encoder_widths": [8, 16], "bottleneck_width": 32}
    card_path.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="missing from the file") as err:
        load_checkpoint(card_path)
    assert "unexpected in the file" in str(err.value) and "\n" not in str(err.value)


def test_save_refuses_a_card_that_does_not_describe_the_model(tmp_path):
    model = trained("CardiacGenerator")
    bad = make_card("CardiacGenerator", config={"base_width": 8, "depth": 3, "out_channels": 3})
    with pytest.raises(CheckpointError, match="base_width: card 8 vs model 4"):
        save_checkpoint(model, bad, tmp_path / "x")

    class Wider(CardiacGenerator):  # a registry entry that builds other shapes from the same config
        def __init__(self, config):
            super().__init__(dataclasses.replace(config, base_width=8))

    registry = {"CardiacGenerator": (CardiacGeneratorConfig, Wider)}
    with pytest.raises(CheckpointError, match="card does not describe this model.*shape mismatch"):
        save_checkpoint(model, make_card("CardiacGenerator"), tmp_path / "y", architectures=registry)
    assert list(tmp_path.iterdir()) == []                 # nothing partial left behind


def test_overwrite_is_refused_unless_asked(tmp_path):
    save_checkpoint(trained("ResnetGenerator", seed=0), make_card("ResnetGenerator"), tmp_path / "g")
    first = sha256_file(tmp_path / "g.safetensors")
    with pytest.raises(OutputExistsError, match="already exists"):
        save_checkpoint(trained("ResnetGenerator", seed=1), make_card("ResnetGenerator"), tmp_path / "g")
    assert sha256_file(tmp_path / "g.safetensors") == first
    _, card_path = save_checkpoint(trained("ResnetGenerator", seed=1), make_card("ResnetGenerator"),
                                   tmp_path / "g", overwrite=True)
    assert load_card(card_path).sha256 != first


def test_card_with_unknown_key_names_the_key(tmp_path):
    _, card_path = save_checkpoint(trained("ResNeXtUNet"), make_card("ResNeXtUNet"), tmp_path / "s")
    data = json.loads(card_path.read_text())
    data["colour"] = "red"
    card_path.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="unknown key\\(s\\) 'colour'") as err:
        load_checkpoint(card_path)
    assert str(card_path) in str(err.value)
    data.pop("colour")
    data["config"]["widht"] = 3                          # unknown *config* key is named too
    card_path.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="'widht'"):
        load_checkpoint(card_path)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.pop("sha256"), "no sha256"),
    (lambda c: c.update(architecture="VGG"), "unknown architecture 'VGG'"),
    (lambda c: c.update(weights_file="other.safetensors"), "weights file not found"),
    (lambda c: c.pop("sigma2"), "missing key\\(s\\) 'sigma2'"),
])
def test_broken_cards_give_one_line_errors(tmp_path, edit, message):
    _, card_path = save_checkpoint(trained("ResNeXtUNet"), make_card("ResNeXtUNet"), tmp_path / "s")
    data = json.loads(card_path.read_text())
    edit(data)
    card_path.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(card_path)
    assert "\n" not in str(err.value)


def test_missing_or_invalid_card_file(tmp_path):
    weights, card_path = save_checkpoint(trained("ResNeXtUNet"), make_card("ResNeXtUNet"), tmp_path / "s")
    card_path.write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(weights)
    card_path.unlink()
    with pytest.raises(CheckpointError, match="model card not found"):
        load_checkpoint(weights)


@pytest.mark.parametrize("changes, message", [
    ({"task": "brain"}, "task must be one of"),
    ({"task": "sutures", "view": "sax"}, "view must be null for task 'sutures'"),
    ({"view": "axial"}, "view must be"),
    ({"landmark_names": ["a", "a", "b"]}, "unique"),
    ({"landmark_names": []}, "landmark_names"),
    ({"heatmap_mode": "multi"}, "heatmap_mode"),
    ({"heatmap_mode": "single"}, "out_channels=3 does not fit"),
    ({"sigma2": -1.0}, "sigma2"),
    ({"input_size": [256]}, "input_size"),
    ({"input_spacing_mm": 0}, "input_spacing_mm"),
    ({"sha256": "abc"}, "sha256"),
    ({"weights_file": "../evil.safetensors"}, "weights_file"),
    ({"normalisation": {"low": 1}}, "normalisation must name its 'method'"),
    ({"format_version": 3}, "newer than this package"),  # this package reads formats 1 and 2
    ({"metrics": {"mre": float("nan")}}, "not JSON-serialisable"),
])
def test_model_card_validation(changes, message):
    with pytest.raises(CheckpointError, match=message):
        make_card("CardiacGenerator", **changes)


def test_model_card_json_round_trip():
    card = make_card("CardiacGenerator", metrics={"mre_mm": 2.1}, notes="demo")
    again = ModelCard.from_json(card.to_json())
    assert again == card and again.input_size == [32, 32] and isinstance(again.sigma2, float)


def test_training_state_round_trip_without_pickle(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.999))
    for _ in range(2):
        opt.zero_grad()
        net(torch.rand(4, 3)).sum().backward()
        opt.step()
    tensors, meta = optimizer_state_to_tensors(opt.state_dict())
    tensors.update({f"model/{k}": v for k, v in net.state_dict().items()})
    path = save_state(tmp_path / "resume", tensors, {**meta, "epoch": 7})
    assert path.name == "resume.safetensors"
    with pytest.raises(OutputExistsError):
        save_state(path, tensors, meta)
    loaded, loaded_meta = load_state(path)
    assert loaded_meta["epoch"] == 7
    opt2 = torch.optim.Adam(torch.nn.Linear(3, 2).parameters())
    opt2.load_state_dict(optimizer_state_from_tensors(loaded, loaded_meta))
    restored, original = opt2.state_dict(), opt.state_dict()
    assert restored["param_groups"][0]["betas"] == (0.5, 0.999)
    for pid, entry in original["state"].items():
        for key, value in entry.items():
            assert torch.equal(restored["state"][pid][key], value)
    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(1)}, str(plain))  # valid safetensors, but not written by save_state
    with pytest.raises(CheckpointError, match="not a training-state file"):
        load_state(plain)


def test_format_1_card_rotations_move_out_of_the_decoder(tmp_path):
    """A format-1 card kept the test-time rotations as decoder.rotations: it reads as rotations, decoder without it."""
    old = json.loads((WEIGHTS_DIR / "cardiac_lax.json").read_text())
    assert old["format_version"] == 1 and old["decoder"]["rotations"] == 4  # the shipped LAX card is format 1
    card = ModelCard.from_dict(old)
    assert card.rotations == 4 and "rotations" not in card.decoder and card.format_version == FORMAT_VERSION
    assert ModelCard.from_json(card.to_json()) == card
    with pytest.raises(CheckpointError, match="disagree"):
        ModelCard.from_dict({**old, "rotations": 2})
    with pytest.raises(CheckpointError, match="rotations apply to cardiac models only"):
        ModelCard.from_dict({**json.loads((WEIGHTS_DIR / "sutures.json").read_text()), "rotations": 4})


def test_weights_with_nan_are_refused_naming_the_file(tmp_path):
    """Issue 15, item 15: NaN weights pass the sha256 check (the card was written for them) but are refused on load,
    naming the weights file, instead of a NaN heatmap later that names no file."""
    import torch

    model = trained("ResNeXtUNet")
    with torch.no_grad():
        next(p for p in model.parameters() if p.is_floating_point()).fill_(float("nan"))
    weights, card_path = save_checkpoint(model, make_card("ResNeXtUNet"), tmp_path / "nan")
    with pytest.raises(CheckpointError, match="weights contain NaN or infinite values") as err:
        load_checkpoint(card_path)
    assert str(err.value).startswith(str(weights))
