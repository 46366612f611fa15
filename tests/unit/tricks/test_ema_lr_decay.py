"""EMA warm-up, the EMA generator's own batch-norm statistics, and learning-rate decay: each
against its formula on hand-known numbers, and a resumed run equal to an uninterrupted one."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_cli.errors import GanError
from gan_cli.lr_decay import lr_factor
from gan_cli.tricks.ema import ema_decay, recompute_bn_statistics
from tests.conftest import make_cfg
from tests.helpers import TINY_MLP_RING


# ----------------------------------------------------------------------------- lr decay
def test_lr_factor_is_linear_or_cosine_from_one_to_zero():
    assert [lr_factor("linear", s, 4) for s in range(5)] == [1.0, 0.75, 0.5, 0.25, 0.0]
    assert lr_factor("cosine", 0, 10) == 1.0
    assert lr_factor("cosine", 5, 10) == pytest.approx(0.5)
    assert lr_factor("cosine", 10, 10) == pytest.approx(0.0)
    assert lr_factor("none", 7, 10) == 1.0
    with pytest.raises(GanError, match="optim.decay=step: choose one of none, linear, cosine"):
        lr_factor("step", 1, 10)


def test_decay_start_keeps_the_full_rate_for_that_fraction_then_decays_to_zero():
    # 8 steps, start 0.5: 1 for steps 0-4, then linear over the last 4 steps
    assert [lr_factor("linear", s, 8, 0.5) for s in range(9)] == [1, 1, 1, 1, 1.0, 0.75, 0.5, 0.25, 0.0]
    assert lr_factor("cosine", 6, 8, 0.5) == pytest.approx(0.5)
    assert lr_factor("none", 7, 8, 0.5) == 1.0


def test_a_time_budget_spent_faster_than_the_steps_drives_the_decay():
    # 10 steps, start 0.5: at step 2 of 10 but 75 % of trainer.max_minutes spent, the decay is
    # halfway (0.75 of the run, 0.25 past its start, over the 0.5 left); the budget spent ends it
    assert lr_factor("linear", 2, 10, 0.5, budget_spent=0.75) == pytest.approx(0.5)
    assert lr_factor("linear", 2, 10, 0.5, budget_spent=1.2) == 0.0
    # steps ahead of the budget: the steps decide
    assert lr_factor("linear", 9, 10, 0.5, budget_spent=0.1) == pytest.approx(0.2)


def test_trainer_decays_both_learning_rates(tmp_path):
    from gan_cli.trainer import Trainer

    cfg = make_cfg([*TINY_MLP_RING, "trainer.steps=4", "optim.decay=linear", "optim.g.lr=1e-3", "optim.d.lr=2e-3"])
    trainer = Trainer(cfg, tmp_path)
    trainer.fit()
    # the fourth (last) update ran at 1 - 3/4 of the base rates
    assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(0.25e-3)
    assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(0.5e-3)


def test_trainer_starts_the_decay_at_optim_decay_start(tmp_path):
    from gan_cli.trainer import Trainer

    cfg = make_cfg([*TINY_MLP_RING, "trainer.steps=4", "optim.decay=linear", "optim.decay_start=0.5",
                    "optim.g.lr=1e-3", "optim.d.lr=2e-3"])
    trainer = Trainer(cfg, tmp_path)
    trainer.fit()
    # decay over steps 2-4: the fourth update ran at 1 - (3 - 2) / 2 of the base rates
    assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(0.5e-3)
    assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(1e-3)


def test_unknown_decay_is_refused_before_training(tmp_path):
    from gan_cli.trainer import Trainer

    with pytest.raises(GanError, match="optim.decay=exp"):
        Trainer(make_cfg([*TINY_MLP_RING, "optim.decay=exp"]), tmp_path)


# ----------------------------------------------------------------------------- EMA
def test_ema_warmup_decay():
    assert ema_decay(0.999, 1, warmup=True) == pytest.approx(2 / 11)
    assert ema_decay(0.999, 90, warmup=True) == pytest.approx(91 / 100)
    assert ema_decay(0.9, 1000, warmup=True) == 0.9  # capped at the configured decay
    assert ema_decay(0.999, 1, warmup=False) == 0.999


def test_ema_warmup_on_a_known_weight():
    from gan_cli.tricks.ema import EMAConfig
    from tests.unit.tricks.test_tricks import Point, trick

    G = Point(0.0)
    ema = trick("ema", EMAConfig, decay=0.99, warmup=True)
    ema.setup(G, None, None)
    G.set(11.0)
    ema.after_g_step(G, 1)  # decay 2/11: 2/11 * 0 + 9/11 * 11 = 9
    assert ema.model.theta.item() == pytest.approx(9.0)


def test_bn_statistics_are_the_plain_average_over_batches():
    bn = nn.BatchNorm1d(1, momentum=0.1)
    model = nn.Sequential(bn)
    batches = [(torch.tensor([[1.0], [3.0]]),), (torch.tensor([[5.0], [7.0]]),)]
    recompute_bn_statistics(model, batches)
    # batch means 2 and 6 -> 4; unbiased batch variances 2 and 2 -> 2
    assert bn.running_mean.item() == pytest.approx(4.0)
    assert bn.running_var.item() == pytest.approx(2.0)
    assert bn.momentum == 0.1 and not model.training


def test_ema_generator_gets_its_own_bn_statistics_and_resume_is_exact(tmp_path, idx_root):
    """Four steps straight equal two, a checkpoint, and two more, with EMA warm-up, recomputed BN
    statistics before each sample grid, and linear decay over the same trainer.steps (the first
    part is stopped by its time budget at step 2); the EMA copy's statistics are its own."""
    from gan_cli.checkpoint import safe_load, state_differences
    from gan_cli.trainer import Trainer

    overrides = [f"dataset.root={idx_root}", "dataset.download=false", "dataset.conditional=true", "arch.width=8",
                 "trainer.batch_size=8", "trainer.sample_every=1", "trainer.num_samples=10", "trainer.checkpoint_every=0",
                 "trainer.log_every=2", "trainer.progress=false", "trainer.steps=4", "metrics=none",
                 "device=cpu", "tricks=[ema]", "tricks.ema.warmup=true", "tricks.ema.bn_batches=2", "optim.decay=linear"]
    straight = Trainer(make_cfg([*overrides, "trainer.max_minutes=null"]), tmp_path / "a")
    straight.fit()
    assert Trainer(make_cfg([*overrides, "trainer.max_minutes=0"]), tmp_path / "b").fit()["steps"] == 2
    resumed = Trainer(make_cfg([*overrides, "trainer.max_minutes=null"]), tmp_path / "b")
    resumed.load_state_dict(safe_load(tmp_path / "b" / "checkpoints" / "final.pt"))
    resumed.fit()
    a, b = straight.state_dict(), resumed.state_dict()
    assert state_differences(a, b) == []  # networks, EMA copy, optimizers, RNG: bit for bit
    ema_a = a["tricks"]["ema"]["model"]
    means = [k for k in ema_a if k.endswith("running_mean")]
    assert means and any(not torch.equal(ema_a[k], a["G"][k]) for k in means)  # not G's copied statistics
