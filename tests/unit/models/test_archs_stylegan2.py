"""arch=stylegan2: forward outputs equal to NVlabs/stylegan2-ada-pytorch's (weights, inputs and
outputs of a small configuration in tests/fixtures/stylegan2_official.pt, written by
tests/fixtures/make_official_fixtures.py), full-size parameter counts, the resampling filter,
demodulation, truncation, style mixing and path length by hand, bad input, and a CLI run that
resumes bit-identically."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from gan_cli.errors import GanError
from gan_cli.models.resample import conv_down2, fir_filter, upfirdn2d, upsample2d
from gan_cli.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator, modulated_conv
from gan_cli.tricks.path_length import PathLength
from tests.helpers import (
    assert_cli_resume_is_bit_identical,
    make_cfg,
    nudged,
    run_cli,
    tiny_folder_overrides,
    write_png_folder,
)

pytestmark = pytest.mark.usefixtures("one_thread")

FIXTURE = Path(__file__).parents[2] / "fixtures" / "stylegan2_official.pt"
TINY = ["arch=stylegan2", "arch.z_dim=8", "arch.w_dim=8", "arch.mapping_layers=2", "arch.channel_base=64",
        "arch.channel_max=8", "arch.mbstd_group_size=2"]


def official_to_ours(theirs: dict, resolution: int, network: str) -> dict:
    """The key map: synthesis.b<res>.* -> blocks.<log2(res) - 2>.*, mapping.fc<i> -> mapping.layers.<i>;
    D: b<res>.* -> blocks.<log2(resolution / res)>.*, b4.* -> epilogue.*."""
    ours = {}
    for key, value in theirs.items():
        key = re.sub(r"^mapping\.fc(\d+)\.", r"mapping.layers.\1.", key)
        if network == "G":
            key = re.sub(r"^synthesis\.b(\d+)\.", lambda m: f"blocks.{int(math.log2(int(m[1]))) - 2}.", key)
        else:
            key = re.sub(r"^b(\d+)\.", lambda m: "epilogue." if m[1] == "4"
                         else f"blocks.{int(math.log2(resolution // int(m[1])))}.", key)
        ours[key] = value
    return ours


@pytest.fixture(scope="module")
def official():
    f = torch.load(FIXTURE, weights_only=True)
    s = f["config"]
    G = StyleGAN2Generator(s["z_dim"], 3, s["resolution"], s["num_classes"], s["w_dim"], s["mapping_layers"],
                           channel_base=s["channel_base"], channel_max=s["channel_max"], conv_clamp=s["conv_clamp"])
    D = StyleGAN2Discriminator(3, s["resolution"], s["num_classes"], "resnet", s["channel_base"], s["channel_max"],
                               s["mbstd_group_size"], s["conv_clamp"], s["d_mapping_layers"])
    G.load_state_dict(official_to_ours(f["G"], s["resolution"], "G"))
    D.load_state_dict(official_to_ours(f["D"], s["resolution"], "D"))
    return f, G.eval(), D.eval()


def g_out(G, f, truncation=1.0):
    G.truncation = truncation
    with torch.no_grad():
        return G(f["z"], f["y"], noise_mode="const")


def test_generator_equals_the_official_code(official):
    f, G, _ = official
    assert torch.allclose(g_out(G, f), f["G_out"], rtol=0, atol=1e-5)
    assert torch.allclose(g_out(G, f, 0.7), f["G_out_truncated"], rtol=0, atol=1e-5)
    assert f["G_out"].abs().max() > 1  # not a trivially small output


def test_discriminator_equals_the_official_code(official):
    f, _, D = official
    with torch.no_grad():
        assert torch.allclose(D(f["x"], f["y"]), f["D_out"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["blocks.2.conv0.weight", "mapping.layers.1.bias", "blocks.3.torgb.affine.weight",
                                  "blocks.1.conv1.noise_strength"])
def test_one_perturbed_generator_weight_breaks_the_equality(official, name):
    f, G, _ = official
    with nudged(G, name):
        assert not torch.allclose(g_out(G, f), f["G_out"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["blocks.0.skip.weight", "epilogue.fc.weight", "mapping.embed.weight"])
def test_one_perturbed_discriminator_weight_breaks_the_equality(official, name):
    f, _, D = official
    with nudged(D, name), torch.no_grad():
        assert not torch.allclose(D(f["x"], f["y"]), f["D_out"], rtol=0, atol=1e-5)


# stylegan2-ada-pytorch's `cifar` config at 32 px (channel_base 32768, mapping 2 layers, D "orig",
# mbstd 32), counted with the official networks.py: G 19,947,539 / D 20,720,641 unconditional,
# G 20,215,315 / D 23,089,664 with 10 classes.
@pytest.mark.parametrize("classes,g_count,d_count", [(0, 19_947_539, 20_720_641), (10, 20_215_315, 23_089_664)])
def test_full_size_cifar_config_has_the_official_parameter_count(classes, g_count, d_count):
    G = StyleGAN2Generator(512, 3, 32, classes, 512, mapping_layers=2)
    D = StyleGAN2Discriminator(3, 32, classes, "orig", mbstd_group_size=32)
    assert sum(p.numel() for p in G.parameters()) == g_count
    assert sum(p.numel() for p in D.parameters()) == d_count


def test_fir_filter_and_upfirdn_by_hand():
    f = fir_filter([1, 3, 3, 1])
    assert torch.allclose(f, torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64)
    x = torch.ones(1, 1, 4, 4)
    assert torch.allclose(upsample2d(x, f)[:, :, 2:-2, 2:-2], torch.ones(1, 1, 4, 4))  # keeps a flat image flat
    assert upsample2d(x, f).shape == (1, 1, 8, 8)
    # 1-D: [1, 2] upsampled by 2 with taps [1, 1] (gain 2): zeros inserted -> [1, 0, 2, 0] -> pairwise sums
    row = upfirdn2d(torch.tensor([[[[1.0, 2.0]]]]), torch.tensor([[0.0, 0.0], [1.0, 1.0]]) / 2, up=2,
                    pad=(1, 0, 1, 0), gain=2)
    assert torch.allclose(row[0, 0, -1], torch.tensor([1.0, 1.0, 2.0, 2.0]))
    # downsampling a 1x1 conv: filter, then every other pixel; a flat image stays flat inside
    w = torch.ones(1, 1, 1, 1)
    assert torch.allclose(conv_down2(torch.ones(1, 1, 8, 8), w, f)[:, :, 1:-1, 1:-1], torch.ones(1, 1, 2, 2))


def test_modulated_conv_demodulates_to_unit_norm_weights_by_hand():
    weight = torch.tensor([[[[0.0, 0, 0], [0, 3, 0], [0, 0, 0]], [[0.0, 0, 0], [0, 4, 0], [0, 0, 0]]]])  # 1 x 2 x 3 x 3
    x = torch.ones(1, 2, 3, 3)
    styles = torch.tensor([[1.0, 1.0]])
    # centre taps 3, 4: demodulated by 1/5 -> 0.6 + 0.8 = 1.4 at every pixel
    out = modulated_conv(x, weight, styles)
    assert torch.allclose(out, torch.full((1, 1, 3, 3), 1.4), atol=1e-6)
    # styles scale the input channels before demodulation: taps (3*2, 4*1), divided by sqrt(36 + 16)
    out = modulated_conv(x, weight, torch.tensor([[2.0, 1.0]]))
    assert torch.allclose(out, torch.full((1, 1, 3, 3), (6 * 1 + 4 * 1) / math.sqrt(36 + 16)), atol=1e-6)
    assert torch.allclose(modulated_conv(x, weight, styles, demodulate=False), torch.full((1, 1, 3, 3), 7.0))


@pytest.mark.parametrize("up", [False, True])
def test_fused_and_unfused_modulated_convs_agree(up):
    torch.manual_seed(0)
    x, weight, styles = torch.randn(3, 4, 8, 8), torch.randn(5, 4, 3, 3), torch.randn(3, 4)
    f = fir_filter([1, 3, 3, 1])
    fused = modulated_conv(x, weight, styles, up=up, f=f)
    assert fused.shape == (3, 5, 16 if up else 8, 16 if up else 8)
    assert torch.allclose(fused, modulated_conv(x, weight, styles, up=up, f=f, fused=False), atol=1e-5)
    # sample 1 alone gives the same output: the grouped conv keeps samples apart
    assert torch.allclose(fused[1:2], modulated_conv(x[1:2], weight, styles[1:2], up=up, f=f), atol=1e-5)


def test_truncation_pulls_w_towards_its_tracked_average():
    torch.manual_seed(0)
    G = StyleGAN2Generator(4, 1, 8, channel_base=32, channel_max=4, w_dim=4, mapping_layers=1)
    z = torch.randn(3, 4)
    G.train()
    G(z)  # one training forward: w_avg = 0.995 * 0 + 0.005 * mean w
    with torch.no_grad():
        w = G.mapping(z, update_w_avg=False)
        assert torch.allclose(G.mapping.w_avg, 0.005 * w[:, 0].mean(0), atol=1e-7)
        G.eval()
        w_t = G.mapping(z, truncation=0.7)
        assert torch.allclose(w_t, G.mapping.w_avg + 0.7 * (w - G.mapping.w_avg), atol=1e-6)


def test_style_mixing_takes_the_later_ws_from_a_second_z():
    torch.manual_seed(0)
    G = StyleGAN2Generator(4, 1, 16, channel_base=64, channel_max=4, w_dim=4, mapping_layers=1, style_mixing=1.0)
    z = torch.randn(2, 4)
    ws = G.mapping(z, update_w_avg=False)
    torch.manual_seed(5)
    mixed = G.mix_styles(ws, None)
    torch.manual_seed(5)
    cutoff = int(torch.randint(1, G.num_ws, ()).item())
    torch.rand(())
    other = G.mapping(torch.randn(2, 4), update_w_avg=False)
    assert 1 <= cutoff < G.num_ws == 6
    assert torch.equal(mixed[:, :cutoff], ws[:, :cutoff]) and torch.equal(mixed[:, cutoff:], other[:, cutoff:])
    G.style_mixing = 0.0
    assert torch.equal(G.mix_styles(ws, None), ws)


class LinearStyleG(torch.nn.Module):
    """img = 2 * w_0 at every one of 4 pixels (one w layer of size 1): J^T y = 2 sum(y)."""

    z_dim, style_mixing = 1, 0.0

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(()))

    def mapping(self, z, y=None):
        return (z + self.p).view(-1, 1, 1)

    def synthesis(self, ws):
        return (2 * ws[:, 0, 0]).view(-1, 1, 1, 1).expand(-1, 1, 2, 2)


def test_path_length_penalty_and_running_mean_by_hand():
    trick = PathLength(make_cfg(["tricks=[path_length]"]).tricks.path_length, None)
    G = LinearStyleG()
    torch.manual_seed(0)
    penalty = trick.penalty(G, 3, None)
    torch.manual_seed(0)
    torch.randn(3, 1)  # z
    y = torch.randn(3, 1, 2, 2) / 2  # noise / sqrt(H W)
    lengths = (2 * y.sum((1, 2, 3))).abs()  # |J^T y| with one w of size 1
    mean = 0.01 * lengths.mean()  # the running mean starts at 0, decay 0.01
    assert torch.allclose(trick.mean, mean)
    assert torch.allclose(penalty, ((lengths - mean) ** 2).mean(), rtol=1e-5)
    assert trick.state_dict()["mean"] == trick.mean  # travels in checkpoints


def test_bad_input_is_one_line_each(tmp_path):
    from gan_cli.build import build_networks
    from gan_cli.data import DataSpec

    spec = DataSpec("image", "folder", (3, 24, 24), 3, 24, 0)
    with pytest.raises(GanError, match="power of two"):
        build_networks(make_cfg(TINY + ["dataset=folder"]), spec)
    with pytest.raises(GanError, match="mapping network.*arch=stylegan2"):
        build_networks(make_cfg(["arch=dcgan", "arch.style_mixing=0.9", "dataset=folder"]), spec)
    with pytest.raises(GanError, match="path_length"):
        build_networks(make_cfg(["arch=resnet", "tricks=[path_length]", "dataset=folder"]), spec)
    assert run_cli(["train", "arch=dcgan", "arch.style_mixing=0.9"]) == 2  # refused before any work


def test_cli_trains_resumes_bit_identically_and_samples_with_truncation(tmp_path):
    arch = TINY + ["tricks=[r1,path_length,ema]", "tricks.r1.every=2", "tricks.path_length.every=2",
                   "arch.style_mixing=0.9"]
    run = assert_cli_resume_is_bit_identical(tmp_path, arch)
    ckpt = run / "checkpoints" / "final.pt"
    out = tmp_path / "s.npz"
    assert run_cli(["sample", f"checkpoint={ckpt}", "n=3", f"out={out}", "truncation=0.7"]) == 0
    import numpy as np

    assert np.load(out)["images"].shape == (3, 32, 32, 3)
    assert run_cli(["sample", f"checkpoint={ckpt}", "n=3", f"out={out}", "truncation=1.5"]) == 2


def test_truncation_on_an_arch_without_mapping_is_refused(tmp_path):
    folder = write_png_folder(tmp_path / "images", 4, [(32, 32)])
    run = tmp_path / "run"
    assert run_cli(["train", *tiny_folder_overrides(folder, run, 1, ["arch=dcgan", "arch.width=4"])]) == 0
    code = run_cli(["sample", f"checkpoint={run / 'checkpoints' / 'final.pt'}", "n=2", f"out={tmp_path / 'o.npz'}",
                    "truncation=0.7"])
    assert code == 2
