"""Learning-rate decay over the run (`optim.decay`): both players' rates fall from their
configured values to 0 at trainer.steps, starting after the fraction `optim.decay_start` of the
run (0: from the first step; 0.5: constant for the first half, then the decay over the second).

The factor is a pure function of the generator step, set on the optimizers before each step, so
a resumed run follows exactly the same schedule with no scheduler state in its checkpoint.
"""

from __future__ import annotations

import math

import torch

from gan_cli.errors import GanError

DECAYS = ("none", "linear", "cosine")


def check_decay(kind: str) -> None:
    if kind not in DECAYS:
        raise GanError(f"optim.decay={kind}: choose one of {', '.join(DECAYS)}")


def lr_factor(kind: str, step: int, steps: int, start: float = 0.0) -> float:
    """The multiplier of the base rate for the update that follows `step` done updates: 1 until
    step `start * steps`, then over the rest of the run, with `progress` going from 0 to 1 there,
    linear 1 - progress, cosine (1 + cos(pi progress)) / 2; 1 throughout for none."""
    if kind == "none" or steps <= 0:
        return 1.0
    first = start * steps
    progress = min(max(step - first, 0.0) / (steps - first), 1.0)
    if kind == "linear":
        return 1.0 - progress
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise GanError(f"optim.decay={kind}: choose one of {', '.join(DECAYS)}")


def decay_learning_rates(kind: str, optim, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                         step: int, steps: int) -> None:
    """Both players' rates for the update that follows `step`: their configured `optim.g.lr` and
    `optim.d.lr` times the factor."""
    factor = lr_factor(kind, step, steps, optim.decay_start)
    set_learning_rate(opt_g, optim.g.lr, factor)
    set_learning_rate(opt_d, optim.d.lr, factor)


def set_learning_rate(opt: torch.optim.Optimizer, base_lr: float, factor: float) -> None:
    for group in opt.param_groups:
        group["lr"] = base_lr * factor
