"""Network builders: shapes for every supported size, DCGAN init, dataset-driven sizes."""

import pytest
import torch
from omegaconf import OmegaConf

from gan_cli.config import ArchConfig
from gan_cli.data import DataSpec
from gan_cli.errors import GanError
from gan_cli.models import build_models
from gan_cli.models.dcgan import ProjectToMaps, factor_resolution


def arch(**kw):
    return OmegaConf.merge(OmegaConf.structured(ArchConfig), kw)


@pytest.mark.parametrize("resolution, base, k", [(28, 7, 2), (32, 4, 3), (48, 6, 3), (64, 4, 4), (128, 4, 5)])
def test_resolution_factors(resolution, base, k):
    assert factor_resolution(resolution) == (base, k)


@pytest.mark.parametrize("resolution, channels", [(28, 1), (32, 3), (64, 3)])
def test_dcgan_shapes(resolution, channels):
    spec = DataSpec("image", "x", (channels, resolution, resolution), channels, resolution, 10)
    G, D = build_models(arch(name="dcgan", width=8, d_norm="batch"), spec)
    x = G(torch.randn(4, 100))
    assert x.shape == (4, channels, resolution, resolution)
    assert x.abs().max() <= 1  # tanh output
    assert D(x).shape == (4,)


def test_dcgan_init_follows_the_paper():
    spec = DataSpec("image", "x", (1, 28, 28), 1, 28, 10)
    G, _ = build_models(arch(name="dcgan", width=32, d_norm="batch"), spec)
    w = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)])
    assert w.std().item() == pytest.approx(0.02, rel=0.05)


def test_unsupported_resolution_names_the_fix():
    spec = DataSpec("image", "x", (3, 100, 100), 3, 100, 0)
    with pytest.raises(GanError, match="dataset.resolution"):
        build_models(arch(name="dcgan", d_norm="batch"), spec)


def test_conditional_networks_take_labels():
    spec = DataSpec("image", "x", (1, 28, 28), 1, 28, 10)
    G, D = build_models(arch(name="dcgan", width=8, d_norm="batch"), spec, num_classes=10)
    y = torch.tensor([0, 1, 2, 3])
    x = G(torch.randn(4, 100), y)
    assert D(x, y).shape == (4,)


def test_mlp_on_points_and_dcgan_refuses_points():
    spec = DataSpec("toy", "ring", (2,), 0, 0, 0)
    G, D = build_models(arch(name="mlp", z_dim=2, g_hidden=[16], d_hidden=[16], g_norm="none", d_norm="none", init="default"), spec)
    assert G(torch.randn(5, 2)).shape == (5, 2) and D(torch.randn(5, 2)).shape == (5,)
    with pytest.raises(GanError, match="arch=mlp"):
        build_models(arch(name="dcgan", d_norm="batch"), spec)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_project_to_maps_is_the_transposed_conv_it_replaces(channels_last, bias):
    """G's first layer computes a transposed conv over 1 x 1 maps as one matrix product: the same
    outputs and gradients as nn.ConvTranspose2d with the same weights, in either memory format."""
    torch.manual_seed(0)
    layer = ProjectToMaps(12, 5, 7, 1, 0, bias=bias)
    if bias:
        torch.nn.init.normal_(layer.bias)
    if channels_last:
        layer.to(memory_format=torch.channels_last)
    z = torch.randn(3, 12, 1, 1, requires_grad=True)
    ours, reference = layer(z), torch.nn.ConvTranspose2d.forward(layer, z)
    assert ours.shape == (3, 5, 7, 7)
    torch.testing.assert_close(ours, reference)
    assert ours.is_contiguous(memory_format=torch.channels_last) == channels_last
    up = torch.randn_like(reference)
    grads = torch.autograd.grad((ours * up).sum(), [z, layer.weight, *([layer.bias] if bias else [])])
    expected = torch.autograd.grad((reference * up).sum(), [z, layer.weight, *([layer.bias] if bias else [])])
    for g, e in zip(grads, expected):
        torch.testing.assert_close(g, e)
    # larger maps (not a projection) take the transposed conv's own path
    x = torch.randn(2, 12, 3, 3)
    torch.testing.assert_close(layer(x), torch.nn.ConvTranspose2d.forward(layer, x))
