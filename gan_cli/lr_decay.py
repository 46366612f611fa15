"""Learning-rate decay over the run (`optim.decay`): both players' rates fall from their
configured values to 0 at trainer.steps, starting after the fraction `optim.decay_start` of the
run (0: from the first step; 0.5: constant for the first half, then the decay over the second).
With a time budget (`trainer.max_minutes`) the run's progress is the larger of its share of the
steps and its share of the budget, so the rates reach 0 however the run ends: at its last step on
a fast machine, at the end of the budget on a slow one (where a step-based decay would be cut off
halfway, at high rates). Without a budget, or wherever the steps run ahead of it, the rates are a
function of the step alone and a resumed run is bit-identical to an uninterrupted one; where the
budget leads, they depend on measured time, as the budget's own stop already does.

The factor is set on the optimizers before each step from the step (and the budget's share),
so no scheduler state goes into the checkpoint.
"""

from __future__ import annotations

import math

import torch

from gan_cli.errors import GanError

DECAYS = ("none", "linear", "cosine")


def check_decay(kind: str) -> None:
    if kind not in DECAYS:
        raise GanError(f"optim.decay={kind}: choose one of {', '.join(DECAYS)}")


def lr_factor(kind: str, step: int, steps: int, start: float = 0.0, budget_spent: float = 0.0) -> float:
    """The multiplier of the base rate for the update that follows `step` done updates. The run's
    progress is max(step / steps, budget_spent) (budget_spent: the share of the time budget used,
    0 without one); the factor is 1 until progress `start`, then, with p going from 0 to 1 over the
    rest, linear 1 - p, cosine (1 + cos(pi p)) / 2; 1 throughout for none."""
    if kind == "none" or steps <= 0:
        return 1.0
    run_progress = min(max(step / steps, budget_spent), 1.0)
    progress = max(run_progress - start, 0.0) / (1.0 - start)
    if kind == "linear":
        return 1.0 - progress
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise GanError(f"optim.decay={kind}: choose one of {', '.join(DECAYS)}")


def decay_learning_rates(kind: str, optim, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                         step: int, steps: int, budget_spent: float = 0.0) -> None:
    """Both players' rates for the update that follows `step`: their configured `optim.g.lr` and
    `optim.d.lr` times the factor."""
    factor = lr_factor(kind, step, steps, optim.decay_start, budget_spent)
    set_learning_rate(opt_g, optim.g.lr, factor)
    set_learning_rate(opt_d, optim.d.lr, factor)


def set_learning_rate(opt: torch.optim.Optimizer, base_lr: float, factor: float) -> None:
    for group in opt.param_groups:
        group["lr"] = base_lr * factor
