"""arch=resnet: mimicry's layouts, spectral norm, pooling, conditional batch norm, training."""

from __future__ import annotations

import json

import pytest
import torch
from torch.nn.utils import parametrize

from gan_cli.errors import GanError
from gan_cli.models.layers import ConditionalNorm2d
from gan_cli.models.resnet import GlobalPool, ResNetGenerator, layout, resnet_discriminator
from gan_cli.trainer import Trainer
from tests.helpers import (
    make_cfg,
    write_png_folder,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def count(m):
    return sum(p.numel() for p in m.parameters())


def test_layouts_are_mimicrys():
    # (bottom side, G channel multipliers, D multipliers, D downsamples) of mimicry's sngan_{32,48,64,128}.py
    assert layout(32) == (4, [4, 4, 4, 4], [2, 2, 2, 2], [True, True, False, False])
    assert layout(48) == (6, [8, 4, 2, 1], [1, 2, 4, 8, 16], [True, True, True, True, False])
    assert layout(64) == (4, [16, 8, 4, 2, 1], [1, 2, 4, 8, 16], [True] * 5)
    assert layout(128) == (4, [16, 16, 8, 4, 2, 1], [1, 2, 4, 8, 16, 16], [True] * 5 + [False])
    assert layout(28)[:2] == (7, [4, 4, 4])  # Fashion-MNIST: 7 -> 14 -> 28


def test_cifar_parameter_counts_match_sngan_by_hand():
    # G: Linear 128 -> 4*4*256 (528,384) + 3 blocks of [BN 512 + BN 512 + 2 conv3x3 256->256 (590,080 each)
    #    + conv1x1 shortcut (65,792)] = 3 * 1,246,976 + BN 512 + conv3x3 256->3 (6,915) = 4,276,739
    assert count(ResNetGenerator(128, 3, 32, 64)) == 528_384 + 3 * 1_246_976 + 512 + 6_915
    # D: optimised block 3->128 (3,584 + 147,584 + 512) + down block with shortcut (2 * 147,584 + 16,512)
    #    + 2 plain blocks (2 * 2 * 147,584) + head 129 = 1,053,825
    assert count(resnet_discriminator(3, 32, 64)) == 151_680 + 311_680 + 590_336 + 129


@pytest.mark.parametrize("resolution", [28, 32, 48, 64])
def test_shapes_and_discriminator_interface(resolution):
    G = ResNetGenerator(8, 3, resolution, 2, num_classes=3)
    D = resnet_discriminator(3, resolution, 2, num_classes=3, minibatch_stddev=2, minibatch_discrimination=(3, 2))
    z, y = torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    x = G(z, y)
    assert x.shape == (4, 3, resolution, resolution) and x.abs().max() <= 1
    assert D(x, y).shape == (4,)
    assert D.features(x).shape == (4, layout(resolution)[2][-1] * 2)  # the tricks' hook
    with pytest.raises(GanError, match="class labels"):
        G(z)


def test_projection_adds_the_class_embedding_dot_features():
    D = resnet_discriminator(3, 32, 2, num_classes=4, spectral_norm=1).eval()  # eval: spectral norm's estimate stays put
    x, y = torch.randn(3, 3, 32, 32), torch.tensor([1, 3, 0])
    h = D.features(x)
    expected = D.head(h).squeeze(1) + (D.embed(y) * h).sum(1)
    assert torch.allclose(D(x, y), expected, atol=1e-6)


def normalised(D):
    return [n for n, m in D.named_modules() if parametrize.is_parametrized(m, "weight")]


def test_spectral_norm_is_built_in_when_asked_whatever_the_variant():
    # the spectral_norm trick asks (d_options), so D is normalised layer by layer as it is built
    sn = resnet_discriminator(3, 32, 2, num_classes=2, variant="sngan", spectral_norm=1)
    convs = [n for n, m in sn.named_modules() if isinstance(m, torch.nn.Conv2d)]
    assert set(convs) <= set(normalised(sn)) and {"head", "embed"} <= set(normalised(sn))
    assert normalised(resnet_discriminator(3, 32, 2, variant="wgan_gp")) == []
    assert normalised(resnet_discriminator(3, 32, 2, variant="wgan_gp", spectral_norm=1))
    assert normalised(resnet_discriminator(3, 32, 2, variant="sngan")) == []
    assert sn.head.parametrizations.weight[0].n_power_iterations == 1
    assert resnet_discriminator(3, 32, 2, spectral_norm=3).head.parametrizations.weight[0].n_power_iterations == 3
    with pytest.raises(GanError, match="variant"):
        resnet_discriminator(3, 32, 2, variant="biggan")


def test_spectral_norm_bounds_the_head():
    D = resnet_discriminator(3, 32, 2, spectral_norm=1)
    D.train()
    for _ in range(5):  # power iterations converge on the largest singular value
        D(torch.randn(2, 3, 32, 32))
    D.eval()
    assert torch.linalg.matrix_norm(D.head.weight, ord=2).item() == pytest.approx(1.0, abs=1e-3)


def test_global_pool_sum_and_mean():
    x = torch.arange(8.0).view(1, 2, 2, 2)  # channel 0: 0,1,2,3  channel 1: 4,5,6,7
    assert GlobalPool("sum")(x).tolist() == [[6.0, 22.0]]
    assert GlobalPool("mean")(x).tolist() == [[1.5, 5.5]]


def test_conditional_batch_norm_by_hand():
    cbn = ConditionalNorm2d("batch", 1, num_classes=2)
    with torch.no_grad():
        cbn.embed.weight.copy_(torch.tensor([[2.0, 0.5], [-1.0, 3.0]]))  # class: (gamma, beta)
    x = torch.tensor([1.0, 3.0]).view(2, 1, 1, 1)  # batch mean 2, variance 1: normalised -1, +1
    out = cbn(x, torch.tensor([0, 1])).flatten()
    eps = cbn.norm.eps
    expected = torch.tensor([2.0 * -1 / (1 + eps) ** 0.5 + 0.5, -1.0 * 1 / (1 + eps) ** 0.5 + 3.0])
    assert torch.allclose(out, expected)
    with pytest.raises(GanError, match="g_norm"):
        ConditionalNorm2d("none", 4, 2)


def test_resnet_refuses_dcgan_init():
    cfg = make_cfg(["arch=resnet", "arch.init=dcgan", "dataset.limit=8"])
    from gan_cli.build import build_networks
    from gan_cli.data import DataSpec

    spec = DataSpec("image", "fashion_mnist", (1, 28, 28), 1, 28, 10)
    with pytest.raises(GanError, match="arch.init=default"):
        build_networks(cfg, spec)


@pytest.mark.parametrize("resolution", [32, 64])
def test_resnet_trains_on_a_folder(tmp_path, resolution):
    folder = write_png_folder(tmp_path / "images", 8, [(resolution, resolution), (resolution + 16, resolution)])
    cfg = make_cfg([
        "dataset=folder", f"dataset.root={folder}", f"dataset.resolution={resolution}", "arch=resnet",
        "arch.width=2", "arch.z_dim=8", "trainer.steps=2", "trainer.batch_size=4", "trainer.log_every=1",
        "trainer.num_samples=4", "metrics=none", "trainer.progress=false", "device=cpu",
    ])
    summary = Trainer(cfg, tmp_path / "run").fit()
    assert summary["status"] == "finished"
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(torch.isfinite(torch.tensor(r["d/loss"])) for r in rows)
    assert (tmp_path / "run" / "samples" / "final.png").is_file()


@pytest.mark.parametrize("overrides, variant, spectral", [
    (["arch=resnet"], "sngan", True),
    (["arch=resnet", "tricks=[ema]"], "sngan", True),  # the arch selects spectral norm whatever tricks lists
    (["arch=resnet", "arch.variant=wgan_gp", "tricks.spectral_norm=null"], "wgan_gp", False),
    (["experiment=cifar10_wgan_gp_resnet", "loss=hinge"], "wgan_gp", False),
])
def test_the_run_config_records_the_variants_choices(overrides, variant, spectral):
    # written into the config, so the saved run says what was built: spectral norm as tricks.spectral_norm
    from gan_cli.build import build_networks
    from gan_cli.data import DataSpec

    cfg = make_cfg([*overrides, "arch.width=1"])
    D = build_networks(cfg, DataSpec("image", "x", (1, 28, 28), 1, 28, 10)).D
    assert (cfg.arch.variant, cfg.tricks.spectral_norm is not None, cfg.arch.d_norm) == (variant, spectral, "none")
    assert bool(normalised(D)) == spectral


@pytest.mark.parametrize("name", ["resnet", "progan"])
def test_pack_is_refused_by_name_until_supported(name):
    from omegaconf import OmegaConf

    from gan_cli.config import ArchConfig
    from gan_cli.data import DataSpec
    from gan_cli.models import build_models

    cfg = OmegaConf.merge(OmegaConf.structured(ArchConfig), {"name": name, "width": 1, "init": "default", "d_norm": "none"})
    with pytest.raises(GanError, match=r"tricks=\[pack\]"):
        build_models(cfg, DataSpec("image", "x", (3, 32, 32), 3, 32, 0), d_options={"pack": 2})
