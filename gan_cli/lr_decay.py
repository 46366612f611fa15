"""Learning-rate decay over the run (`optim.decay`): both players' rates fall from their
configured values to 0 at trainer.steps.

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


def lr_factor(kind: str, step: int, steps: int) -> float:
    """The multiplier of the base rate for the update that follows `step` done updates:
    linear 1 - step/steps, cosine (1 + cos(pi step/steps)) / 2; 1 throughout for none."""
    if kind == "none" or steps <= 0:
        return 1.0
    progress = min(step / steps, 1.0)
    if kind == "linear":
        return 1.0 - progress
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise GanError(f"optim.decay={kind}: choose one of {', '.join(DECAYS)}")


def decay_learning_rates(kind: str, optim, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                         step: int, steps: int) -> None:
    """Both players' rates for the update that follows `step`: their configured `optim.g.lr` and
    `optim.d.lr` times the factor."""
    factor = lr_factor(kind, step, steps)
    set_learning_rate(opt_g, optim.g.lr, factor)
    set_learning_rate(opt_d, optim.d.lr, factor)


def set_learning_rate(opt: torch.optim.Optimizer, base_lr: float, factor: float) -> None:
    for group in opt.param_groups:
        group["lr"] = base_lr * factor
