"""arch=biggan: forward outputs equal to ajbrock/BigGAN-PyTorch's (weights, inputs and outputs of a
small hierarchical, shared-embedding, self-attention configuration in
tests/fixtures/biggan_official.pt, written by tests/fixtures/make_official_fixtures.py),
full-size parameter counts, orthogonal regularisation by hand, bad input, and a CLI run that
resumes bit-identically."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gan_cli.errors import GanError
from gan_cli.models.biggan import BigGANDiscriminator, BigGANGenerator
from gan_cli.tricks.orthogonal import orthogonal_penalty
from tests.helpers import (
    assert_cli_resume_is_bit_identical,
    make_cfg,
    nudged,
)

pytestmark = pytest.mark.usefixtures("one_thread")

FIXTURE = Path(__file__).parents[2] / "fixtures" / "biggan_official.pt"
TINY = ["arch=biggan", "arch.width=2", "arch.z_dim=16", "arch.shared_dim=4", "arch.attention=16"]


def official_to_ours(theirs: dict, ours_template: dict) -> dict:
    """The key map. Their spectral norm keeps the raw weight and one vector u0 per layer; torch's
    parametrization keeps the raw weight as `original` and both vectors. Their forward runs one
    power iteration from u0 and divides by u^T W v; torch's eval forward uses the stored (u, v),
    so (u, v) are stored after that one iteration: the same sigma. Batch norms' stored_mean/var
    are running_mean/var; the output BN's gain/bias are its weight/bias."""
    ours = {}
    for key, value in theirs.items():
        if key.endswith("sv0"):
            continue  # their record of the last sigma: not used by the forward
        new = key.replace("output_layer.0.gain", "out_bn.weight").replace("output_layer.0.bias", "out_bn.bias")
        new = new.replace("output_layer.0.stored_", "out_bn.running_").replace("output_layer.2.", "out_conv.")
        new = re.sub(r"\.(bn\d)\.stored_", r".\1.bn.running_", new)
        if key.endswith("u0"):
            layer = new[: -len("u0")]
            w = theirs[key[: -len("u0")] + "weight"]
            w = w.reshape(w.shape[0], -1)
            v = F.normalize(w.t() @ value.reshape(-1), dim=0, eps=1e-12)
            ours[layer + "parametrizations.weight.0._v"] = v
            ours[layer + "parametrizations.weight.0._u"] = F.normalize(w @ v, dim=0, eps=1e-12)
        elif key.endswith(".weight") and key[: -len("weight")] + "u0" in theirs:
            ours[new[: -len("weight")] + "parametrizations.weight.original"] = value
        else:
            ours[new] = value
    # their batch norms do not count batches (momentum 0.1 either way)
    ours.update({k: v for k, v in ours_template.items() if k.endswith("num_batches_tracked")})
    return ours


@pytest.fixture(scope="module")
def official():
    f = torch.load(FIXTURE, weights_only=True)
    s = f["config"]
    G = BigGANGenerator(s["dim_z"], 3, s["resolution"], s["num_classes"], s["ch"], s["shared_dim"], True, s["attention"])
    D = BigGANDiscriminator(3, s["resolution"], s["num_classes"], s["ch"], s["attention"])
    G.load_state_dict(official_to_ours(f["G"], G.state_dict()))
    D.load_state_dict(official_to_ours(f["D"], D.state_dict()))
    return f, G.eval(), D.eval()


def g_out(G, f, batch_statistics=False):
    """Eval mode; with batch_statistics, the batch norms use the batch's statistics as in the
    official training mode (whose spectral norm gives the same sigma as its eval mode)."""
    state = {k: v.clone() for k, v in G.state_dict().items()}
    for m in G.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.train(batch_statistics)
    try:
        with torch.no_grad():
            return G(f["z"], f["y"])
    finally:
        G.eval()
        G.load_state_dict(state)  # a training-mode BN moves its running statistics


def test_generator_equals_the_official_code(official):
    f, G, _ = official
    assert G.z_dim == f["z"].shape[1] == 20 and G.chunk == 5  # 4 slots of 5: dense + 3 blocks
    assert torch.allclose(g_out(G, f), f["G_out_eval"], rtol=0, atol=1e-5)
    assert torch.allclose(g_out(G, f, batch_statistics=True), f["G_out_train"], rtol=0, atol=1e-5)


def test_discriminator_equals_the_official_code(official):
    f, _, D = official
    with torch.no_grad():
        out = D(f["x"], f["y"])
    assert torch.allclose(out, f["D_out_eval"], rtol=1e-6, atol=1e-5)
    assert out.abs().min() > 1  # not a trivially small output


@pytest.mark.parametrize("name", ["shared.weight", "blocks.1.1.gamma", "blocks.2.0.bn2.gain.parametrizations.weight.original",
                                  "out_bn.bias"])
def test_one_perturbed_generator_weight_breaks_the_equality(official, name):
    f, G, _ = official
    with nudged(G, name):
        assert not torch.allclose(g_out(G, f), f["G_out_eval"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["embed.parametrizations.weight.original", "blocks.0.1.o.parametrizations.weight.original"])
def test_one_perturbed_discriminator_weight_breaks_the_equality(official, name):
    f, _, D = official
    with nudged(D, name), torch.no_grad():
        assert not torch.allclose(D(f["x"], f["y"]), f["D_out_eval"], rtol=1e-6, atol=1e-5)


# Counted with the official BigGAN.py: the paper's 128 px ImageNet model (G_ch = D_ch = 96, dim_z
# 120, shared_dim 128, hierarchical, attention at 64), the CIFAR-10 script's 32 px model (ch 64,
# dim_z 128, no shared embedding, no hierarchy, no attention, 10 classes) and a 64 px model.
COUNTS = {
    "cifar10_32": (dict(z_dim=128, resolution=32, num_classes=10, width=64, shared_dim=0, hierarchical=False,
                        attention=0), 4_304_387, 4_207_361),
    "imagenet_64": (dict(z_dim=120, resolution=64, num_classes=1000, width=64, shared_dim=128, hierarchical=True,
                         attention=32), 31_969_540, 20_571_842),
    "imagenet_128": (dict(z_dim=120, resolution=128, num_classes=1000, width=96, shared_dim=128, hierarchical=True,
                          attention=64), 70_433_988, 87_982_370),
}


def count_params(kw: dict) -> tuple[int, int]:
    G = BigGANGenerator(kw["z_dim"], 3, kw["resolution"], kw["num_classes"], kw["width"], kw["shared_dim"],
                        kw["hierarchical"], kw["attention"], init="n02")
    D = BigGANDiscriminator(3, kw["resolution"], kw["num_classes"], kw["width"], kw["attention"], init="n02")
    return sum(p.numel() for p in G.parameters()), sum(p.numel() for p in D.parameters())


def test_cifar10_layout_has_the_official_parameter_count():
    kw, g, d = COUNTS["cifar10_32"]
    assert count_params(kw) == (g, d)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["imagenet_64", "imagenet_128"])
def test_full_size_layouts_have_the_official_parameter_counts(name):
    kw, g, d = COUNTS[name]
    assert count_params(kw) == (g, d)


def test_orthogonal_penalty_by_hand():
    w = torch.tensor([[1.0, 0.0], [1.0, 1.0]], requires_grad=True)
    # W W^T = [[1, 1], [1, 2]]: off-diagonal 1, 1 -> (1/2)(1 + 1) = 1
    penalty = orthogonal_penalty([w])
    assert penalty.item() == pytest.approx(1.0)
    penalty.backward()
    # the official code's gradient: 2 ((W W^T) * (1 - I)) W = 2 [[0, 1], [1, 0]] W = [[2, 2], [2, 0]]
    assert torch.equal(w.grad, torch.tensor([[2.0, 2.0], [2.0, 0.0]]))
    # an orthogonal matrix (rows at right angles, any lengths) costs nothing; conv weights are rows
    assert orthogonal_penalty([torch.tensor([[3.0, 0.0], [0.0, 0.5]])]).item() == 0.0
    conv = torch.zeros(2, 1, 2, 2)
    conv[0, 0, 0, 0] = conv[1, 0, 0, 0] = 1.0  # both rows (1, 0, 0, 0): product 1, twice, halved
    assert orthogonal_penalty([conv]).item() == pytest.approx(1.0)


def test_orthogonal_trick_skips_the_shared_embedding_and_vectors():
    from gan_cli.build import build_networks
    from gan_cli.data import DataSpec

    cfg = make_cfg(TINY + ["dataset=folder", "tricks=[orthogonal]", "dataset.conditional=true"])
    nets = build_networks(cfg, DataSpec("image", "folder", (3, 32, 32), 3, 32, 3))
    trick = nets.tricks[0]
    assert all(p.dim() >= 2 for p in trick.weights)
    assert not any(p is nets.G.shared.weight for p in trick.weights)
    assert len(trick.weights) == sum(1 for p in nets.G.parameters() if p.dim() >= 2) - 1


def test_bad_input_is_one_line_each():
    from gan_cli.build import build_networks
    from gan_cli.data import DataSpec

    with pytest.raises(GanError, match="power of two"):
        build_networks(make_cfg(TINY + ["dataset=folder"]), DataSpec("image", "folder", (3, 48, 48), 3, 48, 0))
    with pytest.raises(GanError, match="orthogonal.*arch=biggan"):
        build_networks(make_cfg(["arch=resnet", "tricks=[orthogonal]", "dataset=folder"]),
                       DataSpec("image", "folder", (3, 32, 32), 3, 32, 0))
    with pytest.raises(GanError, match="shared_dim"):
        build_networks(make_cfg(TINY + ["dataset=folder", "arch.shared_dim=0"]),
                       DataSpec("image", "folder", (3, 32, 32), 3, 32, 0))


def test_cli_trains_and_resumes_bit_identically(tmp_path):
    assert_cli_resume_is_bit_identical(tmp_path, TINY + ["loss=hinge", "tricks=[orthogonal,ema]"])
