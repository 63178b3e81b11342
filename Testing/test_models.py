"""Tests of heatmap_landmarks.models: shapes, configs, registry, dropout, init, FLOPs."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from heatmap_landmarks.errors import InputError
from heatmap_landmarks.models import (
    ARCHITECTURES,
    CardiacGenerator,
    CardiacGeneratorConfig,
    FeatureFilterBlock,
    ImagePool,
    PatchDiscriminator,
    PatchDiscriminatorConfig,
    ResNeXtUNet,
    ResNeXtUNetConfig,
    ResnetGenerator,
    ResnetGeneratorConfig,
    build_model,
    count_parameters,
    estimate_flops,
    prepare_for_inference,
)

torch.set_num_threads(1)

#: Tiny config per architecture, with an input batch builder.
TINY = {
    "CardiacGenerator": ({"base_width": 4, "depth": 3, "out_channels": 3},
                         lambda: (torch.rand(2, 1, 32, 32),)),
    "PatchDiscriminator": ({"in_channels": 4, "base_width": 4, "max_width": 16, "n_layers": 4, "n_strided": 4},
                           lambda: (torch.rand(2, 1, 32, 32), torch.rand(2, 3, 32, 32))),
    "ResNeXtUNet": ({"encoder_widths": [8, 16, 16], "bottleneck_width": 32, "cardinality": 4},
                    lambda: (torch.rand(2, 3, 32, 64),)),
    "ResnetGenerator": ({"ngf": 4, "n_blocks": 2}, lambda: (torch.rand(2, 3, 16, 16) * 2 - 1,)),
}


def _dropouts(model: nn.Module) -> list:
    return [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


# -- CardiacGenerator ------------------------------------------------------------------
@pytest.mark.parametrize(
    "batch, size, out_channels, depth, upsample",
    [
        (2, (32, 32), 1, 2, "bilinear"),   # paper form: one image holds all landmarks
        (1, (64, 48), 3, 3, "bilinear"),   # one channel per landmark type, non-square
        (3, (16, 16), 2, 4, "nearest"),
    ],
)
def test_cardiac_generator_output_shape(batch, size, out_channels, depth, upsample):
    net = CardiacGenerator(base_width=4, depth=depth, out_channels=out_channels, upsample=upsample)
    y = net(torch.rand(batch, 1, *size))
    assert y.shape == (batch, out_channels, *size)
    assert y.dtype == torch.float32


def test_cardiac_generator_default_is_256_unet_of_depth_4():
    cfg = CardiacGeneratorConfig()
    assert (cfg.depth, cfg.dropout, cfg.ffe_blocks, cfg.out_channels) == (4, 0.4, 3, 1)
    net = CardiacGenerator(cfg).eval()
    stride2 = [m for m in net.encoder.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert len(stride2) == 4 and all(m.kernel_size == (3, 3) for m in stride2)
    assert all(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2
               for m in net.encoder.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU)))
    assert len(net.ffe) == 3
    last = net.head[-1]
    assert (last.out_channels, last.stride) == (1, (1, 1))  # single filter, stride 1, no activation after
    with torch.no_grad():
        assert net(torch.rand(1, 1, 256, 256)).shape == (1, 1, 256, 256)


def test_cardiac_generator_rejects_bad_input_shape():
    net = CardiacGenerator(base_width=4, depth=3)
    with pytest.raises(InputError, match="multiples of 8"):
        net(torch.rand(1, 1, 30, 32))
    with pytest.raises(InputError, match="1 input channel"):
        net(torch.rand(1, 3, 32, 32))


def test_ffe_block_preserves_shape_and_gates_are_in_unit_interval():
    block = FeatureFilterBlock(16, reduction=4)
    x = torch.randn(2, 16, 8, 8)
    assert block(x).shape == x.shape
    gate_c = block.channel_gate(x)
    gate_s = block.spatial_gate(x)
    assert gate_c.shape == (2, 16, 1, 1) and gate_s.shape == (2, 1, 8, 8)
    assert bool(((gate_c > 0) & (gate_c < 1)).all() and ((gate_s > 0) & (gate_s < 1)).all())


@pytest.mark.parametrize("make, n_expected", [
    (lambda: CardiacGenerator(base_width=4, depth=3), 3),                # one per encoder stage
    (lambda: PatchDiscriminator(base_width=4, n_layers=4, n_strided=4), 3),  # one per hidden layer
])
def test_set_dropout_changes_every_dropout_layer(make, n_expected):
    net = make()
    initial = net.config.dropout
    assert [d.p for d in _dropouts(net)] == [initial] * n_expected
    assert net.set_dropout(0.1) == n_expected
    assert [d.p for d in _dropouts(net)] == [0.1] * n_expected
    with pytest.raises(ValueError):
        net.set_dropout(1.0)


def test_dropout_is_active_in_training_only():
    net = CardiacGenerator(base_width=4, depth=2, dropout=0.5)
    x = torch.rand(1, 1, 16, 16)
    net.train()
    assert not torch.equal(net(x), net(x))
    net.eval()
    assert torch.equal(net(x), net(x))


# -- PatchDiscriminator -----------------------------------------------------------------
def test_patch_discriminator_default_maps_256_to_4x4_with_six_layers():
    cfg = PatchDiscriminatorConfig(in_channels=2, base_width=2, max_width=8)
    d = PatchDiscriminator(cfg)
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 6 and all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    assert cfg.dropout == 0.6 and cfg.output_size(256) == 4
    out = d(torch.rand(3, 1, 256, 256), torch.rand(3, 1, 256, 256))
    assert out.shape == (3, 1, 4, 4)


@pytest.mark.parametrize("n_layers, n_strided, size", [(6, 6, 256), (5, 3, 256), (4, 4, 64), (3, 2, 40)])
def test_patch_discriminator_output_size_matches_config(n_layers, n_strided, size):
    cfg = PatchDiscriminatorConfig(in_channels=1, base_width=2, max_width=8, n_layers=n_layers,
                                   n_strided=n_strided, conditional=False, norm="none")
    out = PatchDiscriminator(cfg)(torch.rand(1, 1, size, size))
    side = cfg.output_size(size)
    assert out.shape == (1, 1, side, side)


def test_patch_discriminator_cyclegan_preset_is_70x70_unconditional_instance_norm():
    cfg = PatchDiscriminatorConfig.cyclegan(in_channels=3, base_width=2)
    assert cfg.receptive_field() == 70 and not cfg.conditional and cfg.norm == "instance"
    d = PatchDiscriminator(cfg)
    assert any(isinstance(m, nn.InstanceNorm2d) for m in d.modules())
    assert d(torch.rand(2, 3, 256, 256)).shape == (2, 1, 30, 30)
    with pytest.raises(InputError, match="unconditional"):
        d(torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64))


def test_patch_discriminator_checks_its_inputs():
    d = PatchDiscriminator(in_channels=2, base_width=2, n_layers=3, n_strided=3)
    with pytest.raises(InputError, match="conditional"):
        d(torch.rand(1, 2, 32, 32))
    with pytest.raises(InputError, match="2 input channel"):
        d(torch.rand(1, 1, 32, 32), torch.rand(1, 3, 32, 32))


@pytest.mark.parametrize("norm, kind", [("batch", nn.BatchNorm2d), ("instance", nn.InstanceNorm2d), ("none", None)])
def test_patch_discriminator_norm_is_configurable(norm, kind):
    d = PatchDiscriminator(in_channels=2, base_width=2, n_layers=4, n_strided=4, norm=norm)
    norms = [m for m in d.modules() if isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d))]
    if kind is None:
        assert norms == []
    else:
        assert len(norms) == 2 and all(isinstance(m, kind) for m in norms)  # not on first/last layers


# -- ResNeXtUNet --------------------------------------------------------------------------
def test_resnext_unet_default_on_native_288x512():
    cfg = ResNeXtUNetConfig()
    assert cfg.encoder_widths[0] == 16 and cfg.bottleneck_width == 512 and cfg.depth == 5
    net = ResNeXtUNet(cfg).eval()
    grouped = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert len(grouped) == 5 and all(m.groups == cfg.cardinality for m in grouped)
    x = torch.rand(1, 3, 288, 512)
    with torch.no_grad():
        logits = net(x)
    assert logits.shape == (1, 1, 288, 512)
    prob = net.predict(x)
    assert torch.allclose(prob, torch.sigmoid(logits)) and float(prob.min()) >= 0 and float(prob.max()) <= 1


@pytest.mark.parametrize("size, cardinality, blocks", [((64, 96), 4, 1), ((64, 32), 8, 2), ((96, 64), 16, 1)])
def test_resnext_unet_tiny_shapes(size, cardinality, blocks):
    net = ResNeXtUNet(encoder_widths=(8, 32, 32, 32, 32), bottleneck_width=64, decoder_widths=(4, 8, 8, 8, 8),
                      cardinality=cardinality, blocks_per_stage=blocks)
    assert net(torch.rand(1, 3, *size)).shape == (1, 1, *size)


def test_resnext_unet_apply_sigmoid_flag():
    kwargs = dict(encoder_widths=(8, 16), bottleneck_width=32)
    torch.manual_seed(0)
    raw = ResNeXtUNet(**kwargs).eval()
    torch.manual_seed(0)
    sig = ResNeXtUNet(**kwargs, apply_sigmoid=True).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(sig(x), torch.sigmoid(raw(x)))
    assert torch.allclose(sig.predict(x), raw.predict(x))  # no double sigmoid


@pytest.mark.parametrize("kwargs, message", [
    ({"cardinality": 3}, "cardinality 3 must divide"),
    ({"encoder_widths": (16, 32), "bottleneck_width": 64, "cardinality": 32}, "cardinality 32"),
    ({"width_divisor": 3}, "width_divisor 3"),
    ({"decoder_widths": (8, 8)}, "decoder_widths must have 5 entries"),
    ({"encoder_widths": ()}, "encoder_widths"),
])
def test_resnext_config_validation(kwargs, message):
    with pytest.raises(InputError, match=message):
        ResNeXtUNetConfig(**kwargs)


def test_resnext_unet_needs_multiples_of_32():
    net = ResNeXtUNet(encoder_widths=(8, 16, 16, 16, 16), bottleneck_width=16, cardinality=4)
    with pytest.raises(InputError, match="multiples of 32"):
        net(torch.rand(1, 3, 290, 512))


# -- CycleGAN -------------------------------------------------------------------------------
@pytest.mark.parametrize("n_blocks, upsample, norm", [(6, "transpose", "instance"), (9, "resize", "instance"),
                                                       (2, "transpose", "batch")])
def test_resnet_generator_shape_and_tanh_range(n_blocks, upsample, norm):
    g = ResnetGenerator(ngf=4, n_blocks=n_blocks, upsample=upsample, norm=norm)
    assert sum(type(m).__name__ == "ResidualBlock" for m in g.modules()) == n_blocks
    assert any(isinstance(m, nn.ReflectionPad2d) for m in g.modules())
    x = torch.rand(2, 3, 32, 24) * 2 - 1
    with torch.no_grad():
        y = g(x)
        big = g(x * 1000)
    assert y.shape == x.shape
    assert float(big.abs().max()) <= 1.0 and float(y.abs().max()) < 1.0


def test_image_pool_mixes_new_and_old_images():
    assert torch.equal(ImagePool(pool_size=0).query(torch.ones(2, 1, 2, 2)), torch.ones(2, 1, 2, 2))
    pool = ImagePool(pool_size=3, p=1.0, seed=1)
    first = torch.arange(3.0).view(3, 1, 1, 1)
    assert torch.equal(pool.query(first), first) and len(pool) == 3  # filling: returns the new images
    out = pool.query(torch.full((2, 1, 1, 1), 9.0))                 # p=1: always an old image back
    assert out.shape == (2, 1, 1, 1) and bool((out != 9.0).all())
    assert [float(v) for v in pool._images].count(9.0) == 2  # ...and the new ones are stored instead
    never = ImagePool(pool_size=1, p=0.0)
    never.query(torch.zeros(1, 1, 1, 1))
    assert torch.equal(never.query(torch.ones(1, 1, 1, 1)), torch.ones(1, 1, 1, 1))


def test_image_pool_detaches():
    x = torch.rand(2, 1, 2, 2, requires_grad=True)
    assert not ImagePool(pool_size=4).query(x * 2).requires_grad


# -- registry and configs ----------------------------------------------------------------------
@pytest.mark.parametrize("architecture", sorted(TINY))
def test_build_model_runs_each_architecture(architecture):
    config, inputs = TINY[architecture]
    net = build_model(architecture, config)
    assert isinstance(net, ARCHITECTURES[architecture][1])
    out = net(*inputs())
    assert out.dim() == 4 and out.shape[0] == 2 and torch.isfinite(out).all()


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_config_round_trips_through_dict(architecture):
    config_cls, _ = ARCHITECTURES[architecture]
    cfg = config_cls.from_dict(TINY[architecture][0])
    d = cfg.to_dict()
    assert set(d) == set(config_cls.field_names())
    assert config_cls.from_dict(d) == cfg
    import json
    assert config_cls.from_dict(json.loads(json.dumps(d))) == cfg  # lists from JSON become tuples again


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_unknown_config_keys_are_named(architecture):
    with pytest.raises(InputError, match="'bogus_key', 'zzz'"):
        build_model(architecture, {"bogus_key": 1, "zzz": 2})


def test_unknown_architecture_is_named():
    with pytest.raises(InputError, match="unknown architecture 'UNetPlusPlus'; known: CardiacGenerator"):
        build_model("UNetPlusPlus", {})


@pytest.mark.parametrize("config_cls, kwargs, message", [
    (CardiacGeneratorConfig, {"base_width": 0}, "base_width must be >= 1"),
    (CardiacGeneratorConfig, {"dropout": 1.0}, r"dropout must be a probability in \[0, 1\)"),
    (CardiacGeneratorConfig, {"upsample": "bicubic"}, "upsample must be one of"),
    (CardiacGeneratorConfig, {"depth": 2.0}, "depth must be an integer"),
    (CardiacGeneratorConfig, {"max_width": 8, "base_width": 16}, "max_width"),
    (PatchDiscriminatorConfig, {"norm": "layer"}, "norm must be one of"),
    (PatchDiscriminatorConfig, {"n_strided": 7}, "n_strided"),
    (PatchDiscriminatorConfig, {"in_channels": 1}, "conditional"),
    (PatchDiscriminatorConfig, {"dropout": -0.1}, "dropout"),
    (ResnetGeneratorConfig, {"norm": "none"}, "norm"),
    (ResnetGeneratorConfig, {"upsample": "pixelshuffle"}, "upsample"),
])
def test_config_validation_names_the_field(config_cls, kwargs, message):
    with pytest.raises(InputError, match=message):
        config_cls(**kwargs)


def test_build_model_accepts_config_instance_and_rejects_wrong_class():
    cfg = CardiacGeneratorConfig(base_width=4, depth=2)
    assert build_model("CardiacGenerator", cfg).config is cfg
    with pytest.raises(InputError, match="needs a ResNeXtUNetConfig"):
        build_model("ResNeXtUNet", cfg)


@pytest.mark.parametrize("architecture", sorted(TINY))
def test_init_is_deterministic_given_seed(architecture):
    config = TINY[architecture][0]
    torch.manual_seed(123)
    a = build_model(architecture, config).state_dict()
    torch.manual_seed(123)
    b = build_model(architecture, config).state_dict()
    torch.manual_seed(124)
    c = build_model(architecture, config).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


# -- size reporting --------------------------------------------------------------------------
@pytest.mark.parametrize("layer, shape, flops", [
    (nn.Conv2d(3, 8, 3, padding=1), (1, 3, 10, 12), 2 * 10 * 12 * 8 * 3 * 9),
    (nn.Conv2d(3, 8, 3, stride=2, padding=1), (2, 3, 10, 12), 2 * 2 * 5 * 6 * 8 * 3 * 9),
    (nn.Conv2d(8, 8, 3, padding=1, groups=4), (1, 8, 4, 4), 2 * 4 * 4 * 8 * 2 * 9),
    (nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1), (1, 4, 5, 5), 2 * 5 * 5 * 4 * 2 * 9),
    (nn.Linear(5, 7), (3, 5), 2 * 3 * 7 * 5),
])
def test_estimate_flops_matches_hand_count(layer, shape, flops):
    assert estimate_flops(layer, shape) == flops


def test_parameter_count_matches_hand_count():
    assert count_parameters(nn.Conv2d(2, 3, 3)) == 3 * 2 * 9 + 3
    bn = nn.BatchNorm2d(4)
    assert count_parameters(bn) == 8  # running stats are buffers, not parameters
    frozen = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    frozen[0].requires_grad_(False)
    assert count_parameters(frozen) == 9 and count_parameters(frozen, trainable_only=True) == 3


def test_model_flops_are_positive_and_scale_with_batch():
    net = CardiacGenerator(base_width=4, depth=3).train()
    one = estimate_flops(net, (1, 1, 32, 32))
    assert one > 0 and estimate_flops(net, (3, 1, 32, 32)) == 3 * one
    assert net.training  # mode restored
    d = PatchDiscriminator(in_channels=2, base_width=2, n_layers=3, n_strided=3)
    assert estimate_flops(d, [(1, 1, 32, 32), (1, 1, 32, 32)]) > 0


@pytest.mark.parametrize("architecture", ["CardiacGenerator", "ResNeXtUNet"])
def test_prepare_for_inference_keeps_outputs_and_leaves_original(architecture):
    config, inputs = TINY[architecture]
    torch.manual_seed(0)
    net = build_model(architecture, config)
    with torch.no_grad():  # non-trivial BN statistics, so folding them is really exercised
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    net.eval()
    fast = prepare_for_inference(net)
    x = inputs()[0]
    with torch.no_grad():
        assert torch.allclose(fast(x.contiguous(memory_format=torch.channels_last)), net(x), atol=1e-4)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert n_bn > 0 and sum(isinstance(m, nn.BatchNorm2d) for m in fast.modules()) < n_bn
