"""Every trick against its equation on tiny tensors, the refused combinations, exact resume of the
tricks' state, and training runs of each trick alone and in combination."""

from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from gan_cli.build import build_networks
from gan_cli.config import LossConfig
from gan_cli.data import DataSpec
from gan_cli.errors import GanError
from gan_cli.losses import build_loss
from gan_cli.models.layers import Discriminator, MinibatchDiscrimination, MinibatchStddev
from gan_cli.tricks import TRICKS, StepContext
from gan_cli.tricks.ema import EMAConfig
from gan_cli.tricks.feature_matching import FeatureMatchingConfig
from gan_cli.tricks.historical_averaging import HistoricalAveragingConfig
from gan_cli.tricks.r1 import R1Config
from gan_cli.tricks.spectral_norm import SpectralNormConfig
from tests.conftest import make_cfg as compose_train
from tests.conftest import run_gan
from tests.helpers import TINY_MLP_RING, train

ALL_TRICKS = sorted(TRICKS)
# tricks of one arch (path_length: stylegan2, orthogonal: biggan) train in that arch's tests
ANY_ARCH_TRICKS = [name for name in ALL_TRICKS if TRICKS[name].arch is None]
RING = DataSpec("toy", "ring", (2,), 0, 0, 0, torch.zeros(8, 2), 0.01)
FASHION = DataSpec("image", "fashion_mnist", (1, 28, 28), 1, 28, 10)


def trick(name: str, node_cls=None, **fields):
    node = OmegaConf.structured(node_cls(**fields)) if node_cls else OmegaConf.create(fields)
    return TRICKS[name](node, None)


def ctx(D, real, fake=None, G=None):
    return StepContext(G, D, real, real if fake is None else fake, None, None, 0)


class Point(nn.Module):
    """A 'network' whose only parameter the test sets by hand."""

    def __init__(self, *values):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(values))

    def set(self, *values):
        with torch.no_grad():
            self.theta.copy_(torch.tensor(values))


# ----------------------------------------------------------------------------- minibatch discrimination
def test_minibatch_discrimination_hand_worked():
    layer = MinibatchDiscrimination(in_features=2, num_kernels=1, kernel_dim=2)
    with torch.no_grad():
        layer.T.copy_(torch.eye(2))  # M_i = f(x_i)
    f = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])  # L1 distances: d01 = 1, d02 = 2, d12 = 3
    out = layer(f)
    e = math.exp
    expected = torch.tensor([[e(-1) + e(-2)], [e(-1) + e(-3)], [e(-2) + e(-3)]])
    assert torch.equal(out[:, :2], f)
    assert torch.allclose(out[:, 2:], expected, atol=1e-7)


def test_minibatch_discrimination_of_identical_samples_counts_the_others():
    layer = MinibatchDiscrimination(in_features=4, num_kernels=3, kernel_dim=5)
    out = layer(torch.randn(1, 4).expand(6, 4))
    assert torch.allclose(out[:, 4:], torch.full((6, 3), 5.0))  # N - 1: self excluded


def test_minibatch_discrimination_against_float64_loops():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(in_features=3, num_kernels=4, kernel_dim=2)
    f = torch.randn(5, 3)
    M = (f.double() @ layer.T.detach().double()).view(5, 4, 2)
    o = torch.zeros(5, 4, dtype=torch.float64)
    for i in range(5):
        for j in range(5):
            if j != i:
                o[i] += torch.exp(-(M[i] - M[j]).abs().sum(-1))
    assert torch.allclose(layer(f)[:, 3:].double(), o, atol=1e-6)


def test_minibatch_discrimination_is_wired_into_d():
    D = build_networks(compose_train([*TINY_MLP_RING, "tricks=[minibatch_discrimination]"]), RING).D
    assert D.mbd is not None and (D.mbd.num_kernels, D.mbd.kernel_dim) == (100, 5)
    assert D.head.in_features == 16 + 100


# ----------------------------------------------------------------------------- minibatch stddev
def test_minibatch_stddev_hand_worked():
    # groups of 2; sample i is in group i % 2: {0, 4} (std 2) and {2, 10} (std 4)
    out = MinibatchStddev(group_size=2)(torch.tensor([[0.0], [2.0], [4.0], [10.0]]))
    assert torch.allclose(out[:, 1], torch.tensor([2.0, 4.0, 2.0, 4.0]))
    maps = MinibatchStddev(group_size=4)(torch.arange(4.0).view(4, 1, 1, 1).expand(4, 2, 3, 3))
    assert maps.shape == (4, 3, 3, 3) and torch.allclose(maps[:, 2], torch.full((4, 3, 3), math.sqrt(1.25)))


def test_minibatch_stddev_is_wired_and_checks_the_batch():
    D = build_networks(compose_train([*TINY_MLP_RING, "tricks=[minibatch_stddev]"]), RING).D
    assert isinstance(D.neck[0], MinibatchStddev)
    with pytest.raises(GanError, match="group_size"):
        build_networks(compose_train([*TINY_MLP_RING, "tricks=[minibatch_stddev]", "trainer.batch_size=6"]), RING)


# ----------------------------------------------------------------------------- historical averaging
def test_historical_average_after_three_known_steps():
    D = Point(0.0, 0.0)
    ha = trick("historical_averaging", HistoricalAveragingConfig, weight=0.1, networks="d")
    ha.setup(None, D, None)
    for step in (1, 2, 3):  # theta_1 = (1, 2), theta_2 = (2, 4), theta_3 = (3, 6)
        D.set(step, 2.0 * step)
        ha.after_d_step(D, step)
    assert torch.allclose(ha.means["d"].mean[0], torch.tensor([1.5, 3.0]))  # mean of theta_0 .. theta_3
    penalty = ha.d_terms(ctx(D, None))["penalty"]
    assert penalty.item() == pytest.approx(0.1 * (1.5**2 + 3.0**2))
    penalty.backward()
    assert torch.allclose(D.theta.grad, 2 * 0.1 * torch.tensor([1.5, 3.0]))  # the mean is a constant
    assert ha.g_terms(ctx(D, None)) == {}

    fresh = trick("historical_averaging", HistoricalAveragingConfig, weight=0.1, networks="d")
    fresh.setup(None, Point(0.0, 0.0), None)
    fresh.load_state_dict(ha.state_dict())
    assert torch.equal(fresh.means["d"].mean[0], ha.means["d"].mean[0]) and fresh.means["d"].count == 4


def test_historical_averaging_per_player():
    G, D = Point(1.0), Point(1.0)
    ha = trick("historical_averaging", HistoricalAveragingConfig, networks="g")
    ha.setup(G, D, None)
    G.set(3.0)
    ha.after_g_step(G, 1)
    assert ha.d_terms(ctx(D, None)) == {} and torch.allclose(ha.means["g"].mean[0], torch.tensor([2.0]))
    with pytest.raises(GanError, match="choose d, g or both"):
        trick("historical_averaging", HistoricalAveragingConfig, networks="x").check(None, None)


# ----------------------------------------------------------------------------- label smoothing
def loss_named(name):
    return build_loss(OmegaConf.structured(LossConfig(name=name)))


def test_one_sided_label_smoothing():
    loss = loss_named("ns")
    trick("label_smoothing", real=0.9, fake=0.0).setup(None, None, loss)
    D = lambda x, y=None: x[:, 0]  # noqa: E731
    real, fake = torch.tensor([[2.0]]), torch.tensor([[-1.0]])
    sp = lambda t: math.log1p(math.exp(t))  # noqa: E731
    # BCE(2, 0.9) = 0.9 softplus(-2) + 0.1 softplus(2); fakes keep target 0: softplus(-1)
    expected = 0.9 * sp(-2.0) + 0.1 * sp(2.0) + sp(-1.0)
    assert loss.d_loss(D, real, fake).total().item() == pytest.approx(expected, rel=1e-6)
    assert loss.g_loss(D, fake).total().item() == pytest.approx(sp(1.0), rel=1e-6)  # G's target stays 1
    two_sided = loss_named("ns")
    trick("label_smoothing", real=0.9, fake=0.1).setup(None, None, two_sided)
    assert two_sided.fake_target == 0.1


@pytest.mark.parametrize("name", ["lsgan", "hinge", "wgan", "wgan_gp", "fgan_kl"])
def test_label_smoothing_refuses_losses_without_bce_targets(name):
    with pytest.raises(GanError, match="binary cross-entropy"):
        trick("label_smoothing", real=0.9, fake=0.0).check(loss_named(name), None)


def test_label_smoothing_refuses_bad_targets():
    with pytest.raises(GanError, match="fake < real"):
        trick("label_smoothing", real=0.5, fake=0.6).check(loss_named("ns"), None)


# ----------------------------------------------------------------------------- feature matching
class Features(nn.Module):
    def features(self, x):
        return x


@pytest.mark.parametrize(("distance", "expected"), [("squared", 1.0**2 + 2.0**2), ("l1", (1.0 + 2.0) / 2)])
def test_feature_matching(distance, expected):
    fm = trick("feature_matching", FeatureMatchingConfig, distance=distance, weight=1.0, adversarial=0.0)
    real = torch.tensor([[2.0, 1.0], [0.0, 3.0]])  # mean (1, 2)
    fake = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], requires_grad=True)  # mean (0, 0)
    loss = fm.g_terms(ctx(Features(), real, fake))["loss"]
    assert loss.item() == pytest.approx(expected)
    assert fm.g_adversarial_weight() == 0.0
    loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_feature_matching_refuses_an_empty_generator_loss():
    with pytest.raises(GanError, match="leave G without a loss"):
        trick("feature_matching", FeatureMatchingConfig, weight=0.0, adversarial=0.0).check(None, None)


# ----------------------------------------------------------------------------- spectral norm
def test_spectral_norm_normalises_d_layers():
    D = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        D[0].weight.mul_(10)
    G = nn.Sequential(nn.Linear(2, 3))
    trick("spectral_norm", SpectralNormConfig).setup(G, D, None)
    x = torch.randn(3, 4)
    for _ in range(30):  # power iteration converges over training-mode forwards
        D(x)
    for layer in (D[0], D[2]):
        assert torch.linalg.matrix_norm(layer.weight, ord=2).item() == pytest.approx(1.0, abs=1e-3)
        assert "parametrizations.weight.0._u" in layer.state_dict()  # saved with the network
    assert not hasattr(G[0], "parametrizations")


def test_spectral_norm_refuses_weight_clipping():
    with pytest.raises(GanError, match="weight clipping"):
        trick("spectral_norm", SpectralNormConfig).check(loss_named("wgan"), OmegaConf.create({"arch": {}}))


# ----------------------------------------------------------------------------- ema
def test_ema_of_known_weights():
    G = Point(0.0)
    ema = trick("ema", EMAConfig, decay=0.5, start_step=2)
    ema.setup(G, None, None)
    for step, value in ((1, 4.0), (2, 1.0), (3, 3.0)):
        G.set(value)
        ema.after_g_step(G, step)
    # step 1 < start_step: copy (4); then 0.5 * 4 + 0.5 * 1 = 2.5; then 0.5 * 2.5 + 0.5 * 3 = 2.75
    assert ema.model.theta.item() == pytest.approx(2.75)
    assert not ema.model.theta.requires_grad
    fresh = trick("ema", EMAConfig, decay=0.5)
    fresh.setup(Point(0.0), None, None)
    fresh.load_state_dict(ema.state_dict())
    assert fresh.model.theta.item() == pytest.approx(2.75)


def test_ema_generator_is_used_for_samples():
    nets = build_networks(compose_train([*TINY_MLP_RING, "tricks=[ema]"]), RING)
    assert nets.G_eval is not nets.G and nets.G_eval is nets.tricks[0].model


# ----------------------------------------------------------------------------- pack
def test_packed_discriminator_judges_m_samples_at_once():
    body = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    D = Discriminator(body, nn.Identity(), 3, pack=2)
    x = torch.randn(6, 2)
    manual = D.head(body(torch.cat([x[0::2], x[1::2]], dim=1))).squeeze(1)  # pack i = samples 2i, 2i+1
    assert torch.allclose(D(x), manual)
    with pytest.raises(GanError, match="divisible"):
        D(torch.randn(5, 2))


def test_pack_builds_d_for_m_times_the_channels():
    nets = build_networks(compose_train(["arch=dcgan", "arch.width=4", "tricks=[pack]", "tricks.pack.m=4",
                                         "dataset.conditional=false"]), FASHION)  # the default recipe is conditional
    assert nets.D.body[0].in_channels == 4
    assert nets.D(torch.randn(8, 1, 28, 28)).shape == (2,)
    mlp = build_networks(compose_train([*TINY_MLP_RING, "tricks=[pack]", "tricks.pack.m=4"]), RING).D
    assert mlp(torch.randn(8, 2)).shape == (2,)


def test_pack_checks_batch_and_labels():
    with pytest.raises(GanError, match="multiple of 3"):
        build_networks(compose_train([*TINY_MLP_RING, "tricks=[pack]", "tricks.pack.m=3"]), RING)
    with pytest.raises(GanError, match="conditional"):
        build_networks(compose_train(["arch=dcgan", "dataset.conditional=true", "tricks=[pack]"]), FASHION)


# ----------------------------------------------------------------------------- r1 / r2
class Linear(nn.Module):
    def __init__(self, *w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x, y=None):
        return x @ self.w


def test_r1_and_r2_against_hand_worked_values():
    D = Linear(1.0, 2.0)  # grad D = w, ||w||^2 = 5
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    r1 = trick("r1", R1Config, gamma=10.0)
    assert r1.d_terms(ctx(D, real, fake))["penalty"].item() == pytest.approx(25.0)  # gamma/2 * 5
    gan_stability = trick("r1", R1Config, gamma=10.0, half=False)
    assert gan_stability.d_terms(ctx(D, real, fake))["penalty"].item() == pytest.approx(50.0)

    class Square(nn.Module):  # grad of ||x||^2 / 2 is x: R1 sees the reals, R2 the fakes
        def forward(self, x, y=None):
            return 0.5 * x.pow(2).sum(1)

    real, fake = torch.tensor([[1.0, 1.0], [0.0, 2.0]]), torch.tensor([[3.0, 0.0], [0.0, 0.0]])
    assert r1.d_terms(ctx(Square(), real, fake))["penalty"].item() == pytest.approx(5 * (2 + 4) / 2)
    r2 = trick("r2", R1Config, gamma=10.0)
    assert r2.d_terms(ctx(Square(), real, fake))["penalty"].item() == pytest.approx(5 * (9 + 0) / 2)


def test_lazy_r1_is_scaled_and_resumes():
    D = Linear(1.0, 2.0)
    r1 = trick("r1", R1Config, gamma=10.0, every=2)
    values = []
    for _ in range(3):
        values.append(r1.d_terms(ctx(D, torch.randn(2, 2)))["penalty"].item())
        r1.after_d_step(D, 0)
    assert values == pytest.approx([50.0, 0.0, 50.0])
    fresh = trick("r1", R1Config, gamma=10.0, every=2)
    fresh.load_state_dict(r1.state_dict())
    assert fresh.d_terms(ctx(D, torch.randn(2, 2)))["penalty"].item() == 0.0  # update 3 is skipped


def test_r1_picks_layer_norm_and_refuses_batch_norm():
    cfg = compose_train(["arch=dcgan", "arch.width=4", "tricks=[r1]"])
    build_networks(cfg, FASHION)
    assert cfg.arch.d_norm == "layer"
    with pytest.raises(GanError, match=r"tricks=\[r1\] penalises per-sample gradients.*arch.d_norm=layer"):
        build_networks(compose_train(["arch=dcgan", "arch.width=4", "tricks=[r1]", "arch.d_norm=batch"]), FASHION)


# ----------------------------------------------------------------------------- training and resume
@pytest.mark.parametrize("name", ANY_ARCH_TRICKS)
def test_every_trick_trains_on_the_ring(name, tmp_path):
    if TRICKS[name].images_only:  # augmentations: refused on points in one line (trained in test_small_data.py)
        with pytest.raises(GanError, match="augments images.*use an image dataset"):
            train([*TINY_MLP_RING, f"tricks=[{name}]"], tmp_path)
        return
    summary = train([*TINY_MLP_RING, f"tricks=[{name}]"], tmp_path)
    assert summary["status"] == "finished" and summary["steps"] == 3


@pytest.mark.parametrize("name", sorted(set(ALL_TRICKS) - set(ANY_ARCH_TRICKS)))
def test_a_trick_of_one_arch_is_refused_on_another_in_one_line(name):
    arch = TRICKS[name].arch
    with pytest.raises(GanError, match=rf"tricks=\[{name}\].*use arch={arch}"):
        build_networks(compose_train(["dataset=ring", "arch=mlp", f"tricks=[{name}]"]), RING)


def test_tricks_combined_on_the_ring(tmp_path):
    summary = train([*TINY_MLP_RING, "tricks=[minibatch_discrimination,historical_averaging,label_smoothing]"], tmp_path)
    assert summary["status"] == "finished"


def test_fashion_mnist_dcgan_wgan_gp_with_minibatch_discrimination(tmp_path):
    summary = train(["dataset=fashion_mnist", "dataset.limit=64", "arch=dcgan", "arch.width=8", "loss=wgan_gp",
                     "tricks=[minibatch_discrimination]", "trainer.steps=2", "trainer.batch_size=8",
                     "trainer.sample_every=0", "trainer.checkpoint_every=0", "trainer.log_every=1",
                     "trainer.progress=false", "metrics=none", "device=cpu"], tmp_path)
    assert summary["status"] == "finished"


def test_resume_with_every_stateful_trick_is_exact(tmp_path):
    """Four steps straight equal two steps, a checkpoint, and two more (all tricks' state saved)."""
    from gan_cli.checkpoint import safe_load, state_differences
    from gan_cli.trainer import Trainer

    overrides = [*TINY_MLP_RING, "tricks=[historical_averaging,ema,r1,spectral_norm,minibatch_discrimination]",
                 "tricks.r1.every=2", "tricks.spectral_norm.networks=both"]
    straight = Trainer(compose_train([*overrides, "trainer.steps=4"]), tmp_path / "a")
    straight.fit()
    Trainer(compose_train([*overrides, "trainer.steps=2"]), tmp_path / "b").fit()
    resumed = Trainer(compose_train([*overrides, "trainer.steps=4"]), tmp_path / "b")
    resumed.load_state_dict(safe_load(tmp_path / "b" / "checkpoints" / "final.pt"))
    resumed.fit()
    a, b = straight.state_dict(), resumed.state_dict()
    # everything bit for bit: networks, optimizers, every trick's state, data order, RNG, log sums
    assert state_differences(a, b) == []
    assert set(a["tricks"]) == {"historical_averaging", "ema", "r1", "spectral_norm", "minibatch_discrimination"}
    assert "out.parametrizations.weight.original" in a["tricks"]["ema"]["model"]  # the EMA of the normalised G
    assert a["tricks"]["r1"] == {"d_updates": 4}


def test_refused_combination_is_one_line_from_the_command_line(tmp_path):
    """The real CLI: an impossible combination ends with one line naming the fix, exit code 2."""
    proc = run_gan("train", "dataset=ring", "arch=mlp", "loss=wgan", "tricks=[spectral_norm]", f"hydra.run.dir={tmp_path}",
                   cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "weight clipping" in lines[0] and "use loss=wgan_gp" in lines[0]


@pytest.mark.parametrize("loss", ["wgan_gp", "wgan_div", "dragan"])
def test_penalised_training_under_bf16_autocast(loss, tmp_path):
    """The CUDA path's autocast, exercised on the CPU: penalties leave autocast, the rest does not."""
    tricks = "tricks=[r1,r2,feature_matching,historical_averaging,spectral_norm]"
    summary = train([*TINY_MLP_RING, f"loss={loss}", "trainer.amp=bf16", "trainer.d_steps=1", tricks], tmp_path)
    assert summary["status"] == "finished" and math.isfinite(summary["hq_fraction"])


def test_ema_refuses_a_decay_outside_0_1():
    with pytest.raises(GanError, match="must be in"):
        trick("ema", EMAConfig, decay=1.5).check(None, None)
