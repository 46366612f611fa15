"""Every loss and gradient penalty against its equation on tiny tensors (answers worked out by hand
or in float64), the loss configs' paper defaults, and a few training steps of each loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

from gan_cli.cli import config_dir
from gan_cli.config import LossConfig
from gan_cli.errors import GanError
from gan_cli.losses import LOSSES, build_loss, penalties
from gan_cli.losses.fgan import DIVERGENCES
from tests.conftest import make_cfg as compose_train
from tests.helpers import TINY_MLP_RING, train

LOG2 = math.log(2.0)
ALL_LOSSES = sorted(LOSSES)


def loss_for(name: str, **fields):
    cfg = OmegaConf.structured(LossConfig(name=name))
    for k, v in fields.items():
        cfg[k] = v
    return build_loss(cfg)


class Logits(nn.Module):
    """D(x) = x[:, 0]: the test hands D its logits directly."""

    def forward(self, x, y=None):
        return x[:, 0]


class Linear(nn.Module):
    """D(x) = <w, x> + b: its input gradient is w everywhere."""

    def __init__(self, w, b=0.0):
        super().__init__()
        self.w = nn.Parameter(torch.as_tensor(w, dtype=torch.float32))
        self.b = nn.Parameter(torch.tensor(float(b)))

    def forward(self, x, y=None):
        return x.flatten(1) @ self.w + self.b


class HalfSquare(nn.Module):
    """D(x) = ||x||^2 / 2: its input gradient is x itself."""

    def forward(self, x, y=None):
        return 0.5 * x.flatten(1).pow(2).sum(1)


def col(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)[:, None]


def softplus64(values) -> torch.Tensor:
    return F.softplus(torch.tensor(values, dtype=torch.float64))


# ----------------------------------------------------------------------------- standard GAN
def test_bce_losses_at_logit_zero_are_log_2():
    D, zero = Logits(), col(0.0, 0.0)
    assert loss_for("ns").d_loss(D, zero, zero).total().item() == pytest.approx(2 * LOG2)
    assert loss_for("ns").g_loss(D, zero).total().item() == pytest.approx(LOG2)
    assert loss_for("minimax").g_loss(D, zero).total().item() == pytest.approx(-LOG2)


def test_ns_and_minimax_against_float64():
    D, real, fake = Logits(), col(1.5, -0.5), col(-2.0, 0.25)
    d = softplus64([-1.5, 0.5]).mean() + softplus64([-2.0, 0.25]).mean()
    assert loss_for("ns").d_loss(D, real, fake).total().item() == pytest.approx(d.item(), rel=1e-6)
    assert loss_for("minimax").d_loss(D, real, fake).total().item() == pytest.approx(d.item(), rel=1e-6)
    s = torch.sigmoid(torch.tensor([-2.0, 0.25], dtype=torch.float64))
    assert loss_for("minimax").g_loss(D, fake).total().item() == pytest.approx(torch.log(1 - s).mean().item(), rel=1e-6)
    assert loss_for("ns").g_loss(D, fake).total().item() == pytest.approx(-torch.log(s).mean().item(), rel=1e-6)


# ----------------------------------------------------------------------------- lsgan, hinge, wgan
def test_lsgan_default_and_pearson_codings():
    D, real, fake = Logits(), col(1.0, 3.0), col(0.0, 2.0)
    # a=0, b=1, c=1: D 1/2 mean(0, 4) + 1/2 mean(0, 4) = 2; G 1/2 mean(1, 1) = 0.5
    ls = loss_for("lsgan")
    assert ls.d_loss(D, real, fake).total().item() == pytest.approx(2.0)
    assert ls.g_loss(D, fake).total().item() == pytest.approx(0.5)
    # a=-1, b=1, c=0: D 1/2 mean(0, 4) + 1/2 mean(1, 9) = 3.5; G 1/2 mean(0, 4) = 1
    ls = loss_for("lsgan", lsgan_a=-1.0, lsgan_b=1.0, lsgan_c=0.0)
    assert ls.d_loss(D, real, fake).total().item() == pytest.approx(3.5)
    assert ls.g_loss(D, fake).total().item() == pytest.approx(1.0)


def test_hinge():
    D, real, fake = Logits(), col(0.5, 2.0), col(-2.0, 0.5)
    # D: mean(relu(0.5), relu(-1)) + mean(relu(-1), relu(1.5)) = 0.25 + 0.75; G: -mean(-2, 0.5)
    assert loss_for("hinge").d_loss(D, real, fake).total().item() == pytest.approx(1.0)
    assert loss_for("hinge").g_loss(D, fake).total().item() == pytest.approx(0.75)


def test_wgan_critic_generator_and_drift():
    D, real, fake = Logits(), col(1.0, 3.0), col(0.0, -1.0)
    terms = loss_for("wgan").d_loss(D, real, fake)
    assert terms.total().item() == pytest.approx(-0.5 - 2.0)
    assert terms.stats["wasserstein"].item() == pytest.approx(2.5)
    assert loss_for("wgan").g_loss(D, fake).total().item() == pytest.approx(0.5)
    # ProGAN's drift 0.001 E l_real^2 = 0.001 * 5
    drift = loss_for("wgan_gp", drift=0.001).d_loss(Linear([1.0]), real, fake).losses["drift"]
    assert drift.item() == pytest.approx(0.005)


def test_wgan_clips_every_critic_weight():
    D = nn.Sequential(nn.Linear(3, 2), nn.LayerNorm(2), nn.Linear(2, 1))
    with torch.no_grad():
        D[0].weight.copy_(torch.tensor([[-1.0, 0.005, 0.5], [0.0, -0.02, 0.009]]))
    loss_for("wgan", clip=0.01).after_d_step(D)
    assert torch.equal(D[0].weight, torch.tensor([[-0.01, 0.005, 0.01], [0.0, -0.01, 0.009]]))
    assert all(p.abs().max() <= 0.01 for p in D.parameters())  # norm scales (1.0) clipped too, as in the paper's code
    loss_for("wgan_gp").after_d_step(D[2])  # gradient-penalty critics are never clipped
    assert D[2].weight.abs().max() <= 0.01


# ----------------------------------------------------------------------------- penalties
def test_wgan_gp_penalty_of_unit_norm_linear_critic_is_zero():
    torch.manual_seed(0)
    real, fake = torch.randn(16, 3), torch.randn(16, 3)
    unit = Linear([0.6, 0.0, 0.8])  # ||w|| = 1
    assert penalties.norm_penalty(unit, torch.randn(16, 3)).item() == pytest.approx(0.0, abs=1e-12)
    terms = loss_for("wgan_gp").d_loss(unit, real, fake)
    assert terms.losses["gp"].item() == pytest.approx(0.0, abs=1e-10)
    # ||w|| = 3: 10 * (3 - 1)^2 at every point
    assert loss_for("wgan_gp").d_loss(Linear([0.0, 3.0, 0.0]), real, fake).losses["gp"].item() == pytest.approx(40.0)


def test_norm_penalty_of_nonlinear_critic_against_float64():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.5], [1.0, 1.0]])
    norms = x.double().norm(dim=1)  # grad of ||x||^2/2 is x
    assert penalties.norm_penalty(HalfSquare(), x).item() == pytest.approx(((norms - 1) ** 2).mean().item(), rel=1e-6)
    assert penalties.norm_penalty(HalfSquare(), x, center=0.0).item() == pytest.approx((norms**2).mean().item(), rel=1e-6)


def test_interpolates_are_per_sample():
    torch.manual_seed(1)
    real, fake = torch.randn(64, 3, 2, 2), torch.randn(64, 3, 2, 2)
    torch.manual_seed(7)
    x_hat = penalties.interpolate(real, fake)
    torch.manual_seed(7)
    e = torch.rand(64, 1, 1, 1)
    assert torch.allclose(x_hat, e * real + (1 - e) * fake)
    ratio = ((x_hat - fake) / (real - fake)).flatten(1)  # = e, one value per sample
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-4)
    assert ratio[:, 0].std() > 0.1  # and different samples get different e
    # packed critics (PacGAN m=2): one e per pack
    torch.manual_seed(7)
    e2 = penalties.interpolate(real, fake, pack=2)
    ratio2 = ((e2 - fake) / (real - fake)).flatten(1)[:, 0]
    assert torch.allclose(ratio2[0::2], ratio2[1::2], atol=1e-4)


def test_penalties_are_per_packed_input():
    class PackedLinear(Linear):
        pack = 2

        def forward(self, x, y=None):
            return x.reshape(x.shape[0] // 2, -1) @ self.w

    D = PackedLinear([0.6, 0.0, 0.0, 0.8])  # the packed input's gradient has norm 1; each half's does not
    x = torch.randn(8, 2)
    assert penalties.norm_penalty(D, x).item() == pytest.approx(0.0, abs=1e-12)
    assert penalties.power_penalty(D, x).item() == pytest.approx(1.0)


def test_wgan_div_penalty_hand_worked():
    real, fake = torch.tensor([[1.0, 1.0]]), torch.tensor([[0.0, 1.0]])
    terms = loss_for("wgan_div").d_loss(HalfSquare(), real, fake)
    # k/2 (||(1,1)||^6 + ||(0,1)||^6) = (2^3 + 1^3); critic 0.5 - 1
    assert terms.losses["div"].item() == pytest.approx(9.0)
    assert terms.losses["adv"].item() == pytest.approx(-0.5)
    # ||g||^p is (sum g^2)^(p/2), so p = 3 gives 2^1.5 + 1
    terms = loss_for("wgan_div", div_k=2.0, div_p=3.0).d_loss(HalfSquare(), real, fake)
    assert terms.losses["div"].item() == pytest.approx(2**1.5 + 1)


def test_dragan_points_and_penalty():
    torch.manual_seed(2)
    real = torch.randn(32, 5)
    torch.manual_seed(11)
    x_hat = penalties.dragan_points(real, scale=0.5)
    torch.manual_seed(11)
    u, a = torch.rand(32, 5), torch.rand(32, 1)
    std = real.double().std(correction=0).item()  # numpy's ddof=0, over the whole batch
    assert torch.allclose(x_hat, real + a * 0.5 * std * u, atol=1e-6)
    # ns loss plus 10 (||w|| - 1)^2 = 10 * 4 for ||w|| = 3
    D = Linear([3.0, 0.0, 0.0, 0.0, 0.0])
    terms = loss_for("dragan").d_loss(D, real, real)
    assert terms.losses["gp"].item() == pytest.approx(40.0)
    assert terms.losses["adv"].item() == pytest.approx(loss_for("ns").d_loss(D, real, real).total().item())
    assert loss_for("dragan").g_loss(D, real).total().item() == pytest.approx(loss_for("ns").g_loss(D, real).total().item())


def test_penalties_run_in_float32_outside_autocast():
    w = [0.123456789, -0.987654321, 0.555555555]
    x = torch.tensor([[0.3, 0.7, -1.1], [2.0, 0.1, 0.0]])
    plain = penalties.norm_penalty(Linear(w), x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert Linear(w)(x).dtype == torch.bfloat16  # D itself would run in bf16 here
        inside = penalties.norm_penalty(Linear(w), x)
    assert inside.dtype == torch.float32
    assert inside.item() == plain.item()


def test_penalties_differentiate_the_uncompiled_module():
    class Wrapper(nn.Module):  # stands in for torch.compile's OptimizedModule
        def __init__(self, inner):
            super().__init__()
            self._orig_mod = inner

        def forward(self, *a):
            raise AssertionError("the compiled wrapper must not be double-differentiated")

    assert penalties.norm_penalty(Wrapper(Linear([0.6, 0.8])), torch.randn(4, 2)).item() == pytest.approx(0.0, abs=1e-12)
    packed = Linear([0.6, 0.8])
    packed.pack = 2
    assert penalties.pack_factor(Wrapper(packed)) == 2  # attributes are read through the wrapper


# ----------------------------------------------------------------------------- relativistic
def test_ragan_hand_worked_and_halving():
    D, real, fake = Logits(), col(1.0, 3.0), col(0.0, 2.0)  # E C_real = 2, E C_fake = 1
    d = softplus64([0.0, -2.0]).mean() + softplus64([-2.0, 0.0]).mean()  # BCE([0, 2], 1) + BCE([-2, 0], 0)
    g = softplus64([0.0, 2.0]).mean() + softplus64([2.0, 0.0]).mean()  # BCE([0, 2], 0) + BCE([-2, 0], 1)
    assert loss_for("ragan").d_loss(D, real, fake).total().item() == pytest.approx(d.item(), rel=1e-6)
    assert loss_for("ragan").g_loss(D, fake, real=real).total().item() == pytest.approx(g.item(), rel=1e-6)
    half = loss_for("ragan", ragan_half=True)
    assert half.d_loss(D, real, fake).total().item() == pytest.approx(d.item() / 2, rel=1e-6)


def test_ragan_generator_gradient_flows_only_through_fakes():
    D, real = Logits(), col(1.0, 3.0)
    fake = col(0.0, 2.0).requires_grad_(True)
    loss_for("ragan").g_loss(D, fake, real=real).total().backward()
    # d/dl_f [BCE(l_r - mean l_f, 0) + BCE(l_f - mean l_r, 1)] in float64
    lf = torch.tensor([0.0, 2.0], dtype=torch.float64, requires_grad=True)
    lr = torch.tensor([1.0, 3.0], dtype=torch.float64)
    (F.softplus(lr - lf.mean()).mean() + F.softplus(-(lf - lr.mean())).mean()).backward()
    assert torch.allclose(fake.grad[:, 0].double(), lf.grad, atol=1e-6)


# ----------------------------------------------------------------------------- f-GAN
V = torch.linspace(-3, 3, 25, dtype=torch.float64)


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_fgan_stable_form_is_the_conjugate_of_the_activation(name):
    div = DIVERGENCES[name]
    assert torch.allclose(div.conjugate_of_activation(V), div.conjugate(div.activation(V)), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_fgan_conjugate_is_the_fenchel_conjugate_of_f(name):
    """f*(t) = sup_u (u t - f(u)), searched on a fine grid of u > 0 for t in g_f's range."""
    div = DIVERGENCES[name]
    u = torch.logspace(-6, 3, 400_001, dtype=torch.float64)
    for t in div.activation(torch.tensor([-1.0, -0.3, 0.0, 0.4, 1.0], dtype=torch.float64)):
        sup = (u * t - div.f(u)).max()
        assert div.conjugate(t).item() == pytest.approx(sup.item(), abs=1e-6)


def test_fgan_activations_against_the_table_at_zero():
    at_zero = {"kl": 0.0, "rkl": -1.0, "pearson": 0.0, "hellinger": 0.0, "js": 0.0}
    zero = torch.zeros(1, dtype=torch.float64)
    for name, value in at_zero.items():
        assert DIVERGENCES[name].activation(zero).item() == pytest.approx(value, abs=1e-12)
    # g_f lands in the domain of f*: rkl t < 0, hellinger t < 1, js t < log 2
    assert (DIVERGENCES["rkl"].activation(V) < 0).all()
    assert (DIVERGENCES["hellinger"].activation(V) < 1).all()
    assert (DIVERGENCES["js"].activation(V) < LOG2).all()


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_fgan_variational_bound_is_tight_at_the_optimal_critic(name):
    """With T = f'(p/q), E_P[T] - E_Q[f*(T)] equals D_f(P||Q) = sum q f(p/q) (discrete P, Q)."""
    div = DIVERGENCES[name]
    p = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    q = torch.tensor([0.2, 0.4, 0.4], dtype=torch.float64)
    ratio = (p / q).requires_grad_(True)
    (t,) = torch.autograd.grad(div.f(ratio).sum(), ratio)  # f'(p/q)
    bound = (p * t).sum() - (q * div.conjugate(t)).sum()
    assert bound.item() == pytest.approx((q * div.f(p / q)).sum().item(), rel=1e-9)


@pytest.mark.parametrize("name", sorted(DIVERGENCES))
def test_fgan_losses(name):
    D, real, fake = Logits(), col(0.5, -1.0), col(1.0, 0.2)
    div = DIVERGENCES[name]
    vr, vf = torch.tensor([0.5, -1.0], dtype=torch.float64), torch.tensor([1.0, 0.2], dtype=torch.float64)
    estimate = div.activation(vr).mean() - div.conjugate(div.activation(vf)).mean()
    loss = loss_for(f"fgan_{name}")
    assert loss.d_loss(D, real, fake).total().item() == pytest.approx(-estimate.item(), rel=1e-6)
    assert loss.g_loss(D, fake).total().item() == pytest.approx(-div.activation(vf).mean().item(), rel=1e-6)
    saddle = loss_for(f"fgan_{name}", fgan_saddle=True).g_loss(D, fake).total().item()
    assert saddle == pytest.approx(-div.conjugate(div.activation(vf)).mean().item(), rel=1e-6)


def test_fgan_kl_and_js_at_logit_zero():
    D, zero = Logits(), col(0.0)
    assert loss_for("fgan_kl").d_loss(D, zero, zero).total().item() == pytest.approx(math.exp(-1))  # -(0 - e^-1)
    assert loss_for("fgan_js").d_loss(D, zero, zero).total().item() == pytest.approx(0.0, abs=1e-7)


# ----------------------------------------------------------------------------- flags and configs
def test_loss_flags():
    penalised = {n for n in ALL_LOSSES if LOSSES[n].gradient_penalty}
    assert penalised == {"wgan_gp", "wgan_div", "dragan"}
    assert {n for n in ALL_LOSSES if LOSSES[n].clips_weights} == {"wgan"}
    assert {n for n in ALL_LOSSES if LOSSES[n].supports_label_smoothing} == {"ns", "minimax", "dragan", "ragan"}


def test_every_loss_has_a_config_file_and_back():
    from pathlib import Path

    files = {p.stem for p in (Path(config_dir()) / "loss").glob("*.yaml")}
    assert files == set(ALL_LOSSES)
    with pytest.raises(GanError, match="unknown loss"):
        loss_for("wgan-gp")


PAPER = {
    # loss: (optimizer, lr, betas or None, d_steps)
    "wgan": ("rmsprop", 5e-5, None, 5),
    "wgan_gp": ("adam", 1e-4, [0.0, 0.9], 5),
    "dragan": ("adam", 1e-4, [0.5, 0.9], 1),
    "ns": ("adam", 2e-4, [0.5, 0.999], 1),
    "hinge": ("adam", 2e-4, [0.0, 0.9], 5),
}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_loss_configs_carry_their_papers_optimizer(name):
    opt, lr, betas, d_steps = PAPER[name]
    # on the ring: the default dataset and arch with loss=ns are the CPU recipe (conf/recipe/), which
    # sets its own learning rate (tests/integration/test_recipe.py)
    cfg = compose_train([f"loss={name}", "dataset=ring", "arch=mlp"])
    for player in (cfg.optim.g, cfg.optim.d):
        assert (player.name, player.lr) == (opt, lr)
        if betas:
            assert list(player.betas) == betas
    assert cfg.trainer.d_steps == d_steps


def test_paper_settings_can_be_overridden():
    cfg = compose_train(["loss=wgan", "loss.clip=0.05", "optim.d.lr=1e-4", "trainer.d_steps=2"])
    assert (cfg.loss.clip, cfg.optim.d.lr, cfg.optim.g.lr, cfg.trainer.d_steps) == (0.05, 1e-4, 5e-5, 2)
    assert compose_train(["loss=wgan", "optim=adam"]).optim.d.name == "adam"
    code = compose_train(["loss=wgan_gp", "optim=wgan_gp_code"])
    assert list(code.optim.d.betas) == [0.5, 0.9] and code.optim.d.lr == 1e-4
    assert compose_train(["loss=wgan", "loss.critic_warmup=true"]).loss.critic_warmup


# ----------------------------------------------------------------------------- training
@pytest.mark.parametrize("name", ALL_LOSSES)
def test_every_loss_trains_on_the_ring(name, tmp_path):
    summary = train([*TINY_MLP_RING, f"loss={name}", "trainer.d_steps=1"], tmp_path)
    assert summary["status"] == "finished" and summary["steps"] == 3


def test_wgan_critic_warmup_runs_100_critic_steps(tmp_path):
    from gan_cli.trainer import Trainer

    trainer = Trainer(compose_train([*TINY_MLP_RING, "loss=wgan", "loss.critic_warmup=true"]), tmp_path)
    d_steps = int(trainer.cfg.trainer.d_steps)
    assert [trainer.loss.d_steps(s, d_steps) for s in (0, 24, 25, 499, 500, 1000)] == [100, 100, 5, 5, 100, 100]
    assert not trainer.loss.fixed_d_steps and not trainer.reuse_fake


def test_gradient_penalty_losses_refuse_batch_norm_and_pick_layer_norm():
    from gan_cli.build import build_networks
    from gan_cli.data import DataSpec

    spec = DataSpec("image", "fashion_mnist", (1, 28, 28), 1, 28, 10)
    base = ["arch=dcgan", "arch.width=4", "metrics=none"]
    with pytest.raises(GanError, match="arch.d_norm=layer"):
        build_networks(compose_train([*base, "loss=wgan_gp", "arch.d_norm=batch"]), spec)
    cfg = compose_train([*base, "loss=dragan"])
    D = build_networks(cfg, spec).D
    assert cfg.arch.d_norm == "layer" and not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert compose_train([*base, "loss=wgan"]).arch.d_norm == "auto"  # resolved to batch at build: WGAN's DCGAN critic


def test_weight_clipping_refuses_a_spectrally_normalised_critic():
    from gan_cli.build import build_networks
    from gan_cli.data import DataSpec

    cfg = compose_train(["arch=resnet", "loss=wgan", "arch.width=1"])  # arch=resnet selects tricks=[spectral_norm]
    with pytest.raises(GanError, match=r"tricks.spectral_norm=null"):
        build_networks(cfg, DataSpec("image", "x", (1, 28, 28), 1, 28, 10))
