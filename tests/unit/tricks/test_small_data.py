"""Small data: dataset.limit's fixed subset, DiffAugment's and ADA's operations on 1- and 3-channel
images, the ADA, LeCam and bCR equations on tiny tensors, gradients to G through the augmentation,
the refused combinations, and exact resume with each trick on."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from gan_cli.augment import AugmentedD
from gan_cli.augment import ada as ada_ops
from gan_cli.augment import diffaugment as da
from gan_cli.config import DatasetConfig
from gan_cli.data import DataSpec, build_dataset
from gan_cli.data.subset import subset_indices, subset_size, whole_dataset
from gan_cli.errors import GanError
from gan_cli.tricks import TRICKS, StepContext
from gan_cli.tricks.ada import ADAConfig, adjusted_p
from gan_cli.tricks.consistency import consistency_term
from gan_cli.tricks.lecam import LeCamConfig, lecam_term
from tests.conftest import make_cfg
from tests.helpers import run_cli, state_differences

pytestmark = pytest.mark.usefixtures("one_thread")

GREY = DataSpec("image", "fashion_mnist", (1, 8, 8), 1, 8, 10)
RGB = DataSpec("image", "cifar10", (3, 8, 8), 3, 8, 10)


def trick(name, node_cls, spec=GREY, run_cfg=None, **fields):
    t = TRICKS[name](OmegaConf.structured(node_cls(**fields)), run_cfg)
    t.check(None, run_cfg)
    t.check_data(spec)
    return t


# ----------------------------------------------------------------------------- dataset.limit
def test_subset_is_fixed_nested_and_sized_by_count_or_fraction():
    a = subset_indices(600, 60000, "x")
    assert np.array_equal(a, subset_indices(600, 60000, "x"))  # no seed in it: every run the same
    assert np.array_equal(a, subset_indices(0.01, 60000, "x"))  # 1% of 60000 is the same 600
    assert np.isin(a, subset_indices(0.1, 60000, "x")).all()  # 1% inside 10%
    assert len(np.unique(a)) == 600 and a.max() < 60000 and not np.array_equal(a, np.arange(600))
    assert subset_size(1.0, 96, "x") == 96 and subset_size(0.5, 96, "x") == 48 and subset_size(96, 96, "x") == 96


@pytest.mark.parametrize("limit, message", [
    (0, "give at least 1 image"), (-5, "give at least 1 image"), (0.0, "fraction must be in"),
    (-0.5, "fraction must be in"), (97, "more than the 96 images"), (2.5, "whole number"), ("x", "number of images"),
])
def test_bad_limits_are_one_line_naming_the_fix(idx_root, limit, message):
    cfg = OmegaConf.structured(DatasetConfig(name="fashion_mnist", root=str(idx_root), download=False))
    cfg.limit = limit
    with pytest.raises(GanError, match=message) as info:
        build_dataset(cfg)
    assert "\n" not in str(info.value)


def test_limited_dataset_keeps_the_subset_and_records_it(idx_root):
    cfg = OmegaConf.structured(DatasetConfig(name="fashion_mnist", root=str(idx_root), download=False, limit=0.25))
    whole = build_dataset(OmegaConf.structured(DatasetConfig(name="fashion_mnist", root=str(idx_root), download=False)))
    data = build_dataset(cfg)
    keep = torch.from_numpy(subset_indices(0.25, 96, "x"))
    assert torch.equal(data.images, whole.images[keep]) and torch.equal(data.labels, whole.labels[keep])
    assert data.subset["images"] == 24 and data.subset["of"] == 96 and data.subset["limit"] == 0.25
    # the reference statistics for FID are those of the whole split
    assert whole_dataset(cfg).limit is None and cfg.limit == 0.25


def test_limit_is_refused_by_the_cli_before_training(idx_root, tmp_path, capsys):
    code = run_cli(["train", f"dataset.root={idx_root}", "dataset.limit=1000", "metrics=none", "trainer=debug",
                    f"hydra.run.dir={tmp_path / 'run'}"])
    assert code == 2
    assert "dataset.limit=1000 is more than the 96 images" in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoints").exists()


# ----------------------------------------------------------------------------- DiffAugment operations
def test_diffaugment_colour_equations():
    torch.manual_seed(0)
    x = torch.randn(5, 3, 4, 4)
    b = da.brightness(x) - x  # one constant per image in [-0.5, 0.5)
    assert torch.allclose(b, b[:, :1, :1, :1].expand_as(b), atol=1e-6) and b.abs().max() <= 0.5
    c = da.contrast(x)
    assert torch.allclose(c.mean((1, 2, 3)), x.mean((1, 2, 3)), atol=1e-5)  # the mean is kept
    ratio = (c - c.mean((1, 2, 3), keepdim=True)) / (x - x.mean((1, 2, 3), keepdim=True))
    assert ((ratio >= 0.5 - 1e-4) & (ratio < 1.5 + 1e-4)).all()
    s = da.saturation(x)
    assert torch.allclose(s.mean(1), x.mean(1), atol=1e-5)  # grey level kept, colour scaled in [0, 2)
    grey = torch.randn(5, 1, 4, 4)
    assert torch.equal(da.saturation(grey), grey)


def test_shift_moves_whole_pixels_with_zero_fill():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(2, 1, 1, 1)
    out = da.shift(x, torch.tensor([1, 0]), torch.tensor([0, -1]))
    right = torch.zeros(4, 4)
    right[:, 1:] = x[0, 0, :, :3]
    up = torch.zeros(4, 4)
    up[:3] = x[0, 0, 1:]
    assert torch.equal(out[0, 0], right) and torch.equal(out[1, 0], up)


def test_cutout_mask_by_hand():
    mask = da.cutout_mask(1, 4, 4, torch.tensor([1]), torch.tensor([2]), (2, 2))
    expected = torch.ones(4, 4)
    expected[0:2, 1:3] = 0  # rows 1-1..1+1, cols 2-1..2+1 (half-open)
    assert torch.equal(mask[0, 0], expected)


@pytest.mark.parametrize("channels", [1, 3])
def test_diffaugment_on_grey_and_rgb_keeps_shape_and_gradients(channels):
    torch.manual_seed(0)
    x = torch.randn(6, channels, 8, 8, requires_grad=True)
    y = da.DiffAugment("color,translation,cutout", channels)(x)
    assert y.shape == x.shape and torch.isfinite(y).all() and not torch.equal(y, x)
    y.sum().backward()
    assert x.grad.abs().sum() > 0
    # a 4x4 cutout in every image, of which at least 2x2 inside (its centre may lie on the border)
    assert ((y == 0).flatten(1).sum(1) >= 4 * channels).all()


def test_diffaugment_policy_is_checked():
    with pytest.raises(GanError, match="color, translation, cutout"):
        da.parse_policy("color,zoom")


# ----------------------------------------------------------------------------- ADA operations
@pytest.mark.parametrize("channels", [1, 3])
def test_ada_at_p_zero_is_the_identity_and_at_p_half_augments(channels):
    torch.manual_seed(0)
    x = torch.rand(6, channels, 8, 8) * 2 - 1
    pipe = ada_ops.AdaPipeline(["blit", "geom", "color"], channels, torch.tensor(0.0))
    assert torch.allclose(pipe(x), x, atol=1e-5)
    pipe.p = torch.tensor(0.5)
    y = pipe(x)
    assert y.shape == x.shape and torch.isfinite(y).all() and (y - x).abs().amax((1, 2, 3)).gt(1e-3).any()


def test_ada_blits_are_exact_flips_and_rotations():
    torch.manual_seed(1)
    x = torch.randn(16, 1, 6, 6)
    flips = ada_ops.AdaPipeline(["xflip"], 1, torch.tensor(0.99))(x)
    for a, b in zip(flips, x):
        assert torch.allclose(a, b, atol=1e-5) or torch.allclose(a, b.flip(2), atol=1e-5)
    rots = ada_ops.AdaPipeline(["rot90"], 1, torch.tensor(0.99))(x)
    for a, b in zip(rots, x):
        assert any(torch.allclose(a, torch.rot90(b, k, (1, 2)), atol=1e-5) for k in range(4))


def test_ada_colour_equations():
    torch.manual_seed(2)
    grey = torch.rand(32, 1, 4, 4) * 2 - 1
    bright = ada_ops.AdaPipeline(["brightness"], 1, torch.tensor(0.99))(grey) - grey
    assert torch.allclose(bright, bright[:, :, :1, :1].expand_as(bright), atol=1e-6)  # one offset per image
    flipped = ada_ops.AdaPipeline(["lumaflip"], 1, torch.tensor(0.99))(grey)
    for a, b in zip(flipped, grey):  # on grey, the luma flip inverts the image or leaves it
        assert torch.allclose(a, b, atol=1e-5) or torch.allclose(a, -b, atol=1e-5)
    rgb = torch.rand(32, 3, 4, 4) * 2 - 1
    hue = ada_ops.AdaPipeline(["hue"], 3, torch.tensor(0.99))(rgb)
    assert torch.allclose(hue.mean(1), rgb.mean(1), atol=1e-5)  # a rotation about the luma axis keeps luma
    sat = ada_ops.AdaPipeline(["saturation"], 3, torch.tensor(0.99))(rgb)
    assert torch.allclose(sat.mean(1), rgb.mean(1), atol=1e-5)


def test_ada_refuses_rgb_only_colour_on_grey_in_one_line():
    with pytest.raises(GanError, match="hue needs RGB images") as info:
        trick("ada", ADAConfig, GREY, augment=["blit", "hue"])
    assert "\n" not in str(info.value)
    assert "hue" in ada_ops.resolve_ops(["color"], 3) and "hue" not in ada_ops.resolve_ops(["color"], 1)
    with pytest.raises(GanError, match="unknown augmentation 'zoom'"):
        ada_ops.resolve_ops(["zoom"], 3)
    with pytest.raises(GanError, match="max_p < 1"):
        trick("ada", ADAConfig, GREY, max_p=1.0)


# ----------------------------------------------------------------------------- ADA's p
def test_ada_p_update_equation():
    step = 64 * 4 / (500 * 1000)
    p = torch.tensor(0.1)
    assert adjusted_p(p, torch.tensor(0.8), 0.6, 256, 500, 0.99).item() == pytest.approx(0.1 + step)
    assert adjusted_p(p, torch.tensor(0.2), 0.6, 256, 500, 0.99).item() == pytest.approx(0.1 - step)
    assert adjusted_p(torch.tensor(0.0), torch.tensor(0.0), 0.6, 256, 500, 0.99).item() == 0.0  # clamped at 0
    assert adjusted_p(torch.tensor(0.99), torch.tensor(1.0), 0.6, 256, 500, 0.99).item() == pytest.approx(0.99)


class ConstantD(torch.nn.Module):
    """A discriminator that scores every image `value`: > 0 is a D sure of the reals (overfitting)."""

    def __init__(self, value: float):
        super().__init__()
        self.value = value
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, y=None):
        return torch.full((x.shape[0],), self.value) + 0 * self.w


@pytest.mark.parametrize("value, rises", [(3.0, True), (-3.0, False)])
def test_ada_p_moves_the_right_way(value, rises):
    run_cfg = OmegaConf.create({"trainer": {"batch_size": 8}})
    ada = trick("ada", ADAConfig, GREY, run_cfg, interval=2, kimg=1.0)
    D = AugmentedD(ConstantD(value), [ada.augment])
    real = torch.rand(8, 1, 8, 8) * 2 - 1
    for step in range(6):
        ada.d_terms(StepContext(None, D, real, real, None, None, step))
        ada.after_d_step(D, step)
    # three adjustments of 8 * 2 / 1000 each, up from 0 (r_t = 1 > 0.6) or held at 0 (r_t = -1)
    assert ada.p.item() == pytest.approx(3 * 0.016 if rises else 0.0)
    assert ada.log_row() == {"p": pytest.approx(ada.p.item()), "rt": 1.0 if rises else -1.0}


# ----------------------------------------------------------------------------- LeCam and bCR
def test_lecam_equation_code_and_paper_forms():
    d_real, d_fake = torch.tensor([0.0, 3.0]), torch.tensor([-1.0, 4.0])
    a_r, a_f = torch.tensor(2.0), torch.tensor(0.5)
    # code: relu(D(x) - a_F)^2 and relu(a_R - D(G(z)))^2
    assert lecam_term(d_real, d_fake, a_r, a_f, "code").item() == pytest.approx((0 + 2.5**2) / 2 + (3**2 + 0) / 2)
    # paper: plain squares
    assert lecam_term(d_real, d_fake, a_r, a_f, "paper").item() == pytest.approx((0.5**2 + 2.5**2) / 2 + (3**2 + 2**2) / 2)


def test_lecam_moving_averages_are_debiased_and_feed_the_term():
    lecam = trick("lecam", LeCamConfig, GREY, weight=0.5, decay=0.9)
    lecam.update(torch.tensor([1.0, 3.0]), torch.tensor([-2.0]))  # first means: a_R = 2, a_F = -2 exactly
    a_r, a_f = lecam.averages()
    assert (a_r.item(), a_f.item()) == (pytest.approx(2.0), pytest.approx(-2.0))
    lecam.update(torch.tensor([4.0]), torch.tensor([0.0]))
    a_r, a_f = lecam.averages()
    assert a_r.item() == pytest.approx((0.9 * 0.1 * 2 + 0.1 * 4) / (1 - 0.81))
    assert a_f.item() == pytest.approx((0.9 * 0.1 * -2 + 0.1 * 0) / (1 - 0.81))
    # d_terms: averages updated with this batch, then weight * the term
    D = ConstantD(1.0)
    x = torch.zeros(2, 1, 8, 8)
    out = lecam.d_terms(StepContext(None, D, x, x, None, None, 0))["reg"]
    a_r, a_f = lecam.averages()
    assert out.item() == pytest.approx(0.5 * (max(1 - a_f.item(), 0) ** 2 + max(a_r.item() - 1, 0) ** 2))


def test_consistency_equation():
    assert consistency_term(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0])).item() == pytest.approx((1 + 4) / 2)


def test_consistency_terms_on_a_d_that_sees_translations():
    """D = mean pixel: a flip keeps it, a shift (zero fill) changes it; a constant image shifted by
    (dx, dy) loses |dx| * 8 + |dy| * 8 - |dx dy| of its 64 pixels."""
    from gan_cli.tricks.consistency import ConsistencyConfig

    bcr = trick("consistency", ConsistencyConfig, GREY, lambda_real=10.0, lambda_fake=0.0)
    D = lambda x, y=None: x.mean((1, 2, 3))  # noqa: E731
    x = torch.ones(4, 1, 8, 8)
    torch.manual_seed(0)
    terms = bcr.d_terms(StepContext(None, D, x, x, None, None, 0))
    assert set(terms) == {"real"}  # lambda_fake = 0: no fake term
    # the same draws: the flip's coins, then the shifts; the image is flip-symmetric, so only the
    # shift changes D's output
    torch.manual_seed(0)
    torch.rand(4, 1, 1, 1)
    shifted = da.translation(x)
    lost = 64 - shifted.flatten(1).sum(1)
    assert (lost > 0).any()
    expected = 10 * consistency_term(D(x), D(shifted))
    assert expected.item() == pytest.approx(10 * ((lost / 64) ** 2).mean().item())
    assert terms["real"].item() == pytest.approx(expected.item()) and terms["real"].item() > 0


# ----------------------------------------------------------------------------- wiring and resume
TINY_IMAGES = ["arch=dcgan", "arch.width=4", "arch.z_dim=8", "trainer.batch_size=16", "trainer.sample_every=0",
               "trainer.progress=false", "metrics=none", "device=cpu"]


def test_diffaugment_wraps_d_in_both_phases_and_gradients_reach_g(idx_root, tmp_path):
    from gan_cli.trainer import Trainer

    trainer = Trainer(make_cfg([*TINY_IMAGES, f"dataset.root={idx_root}", "tricks=[diffaugment]"]), tmp_path)
    assert isinstance(trainer.train_D, AugmentedD) and isinstance(trainer.frozen_D, AugmentedD)
    z, y = trainer.latent(4)
    fake = trainer.G(z, y)
    trainer.frozen_D(fake, y).sum().backward()
    assert sum(p.grad.abs().sum() for p in trainer.G.parameters() if p.grad is not None) > 0
    # the negative control augments the real batch, and D sees fakes as they are
    control = Trainer(make_cfg([*TINY_IMAGES, f"dataset.root={idx_root}", "tricks=[diffaugment]",
                                "tricks.diffaugment.apply_to=reals"]), tmp_path / "control")
    assert not isinstance(control.train_D, AugmentedD) and len(control.real_augments) == 1


def test_ada_checkpoints_and_logs_before_its_first_adjustment(idx_root, tmp_path):
    """Steps 1-3 come before the first update of p (interval 4): nothing there may read as a nan."""
    from gan_cli.trainer import Trainer

    summary = Trainer(make_cfg([*TINY_IMAGES, f"dataset.root={idx_root}", "tricks=[ada]", "trainer.steps=2",
                                "trainer.log_every=1", "trainer.checkpoint_every=1"]), tmp_path).fit()
    assert summary["status"] == "finished"
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["ada/p"], r["ada/rt"]) for r in rows] == [(0.0, 0.0), (0.0, 0.0)]


RESUMABLE = {
    "diffaugment": ["tricks=[diffaugment]"],
    "ada": ["tricks=[ada]", "tricks.ada.kimg=0.1", "tricks.ada.interval=2"],  # p moves within the run
    "lecam": ["tricks=[lecam]"],
    "consistency": ["tricks=[consistency]"],
}


@pytest.mark.parametrize("name", list(RESUMABLE))
def test_resume_with_each_small_data_trick_is_bit_identical(name, idx_root, tmp_path):
    from gan_cli import checkpoint as ckpt_io
    from gan_cli.trainer import Trainer

    overrides = [*TINY_IMAGES, f"dataset.root={idx_root}", "dataset.limit=0.5", "trainer.steps=6",
                 "trainer.checkpoint_every=3", "trainer.log_every=2", *RESUMABLE[name]]
    Trainer(make_cfg(overrides), tmp_path / "whole").fit()
    resumed = Trainer(make_cfg(overrides), tmp_path / "resumed")
    middle = tmp_path / "whole/checkpoints/step_0000003.pt"
    resumed.load_state_dict(ckpt_io.safe_load(middle), source=middle)
    resumed.fit()
    assert state_differences(tmp_path / "whole/checkpoints/final.pt", tmp_path / "resumed/checkpoints/final.pt") == []
    rows = [json.loads(line) for line in (tmp_path / "whole/metrics.jsonl").read_text().splitlines()]
    if name == "ada":
        assert rows[-1]["ada/p"] > 0 and math.isfinite(rows[-1]["ada/rt"])
    summary = json.loads((tmp_path / "whole/summary.json").read_text())
    assert summary["dataset_subset"]["images"] == 48
