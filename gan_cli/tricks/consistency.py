"""Balanced consistency regularisation, bCR (Zhao et al. 2021): D should not care whether an image
was flipped or shifted, on reals and on fakes alike.

  L_D += lambda_real E ||D(x) - D(T(x))||^2 + lambda_fake E ||D(G(z)) - D(T(G(z)))||^2
T: a random horizontal flip and a translation by up to 1/8 of the side (the paper's CIFAR
transforms: flipping and shifting by a few pixels); lambda_real = lambda_fake = 10 (the paper).
Gradients flow through both outputs, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gan_cli.augment.diffaugment import translation
from gan_cli.config_ranges import non_negative, ranged
from gan_cli.errors import GanError
from gan_cli.tricks.base import StepContext, Trick, register_trick


def random_flip(x: torch.Tensor) -> torch.Tensor:
    flip = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < 0.5
    return torch.where(flip, x.flip(3), x)


def consistency_transform(x: torch.Tensor) -> torch.Tensor:
    return translation(random_flip(x))


def consistency_term(d_x: torch.Tensor, d_tx: torch.Tensor) -> torch.Tensor:
    """E ||D(x) - D(T(x))||^2 over the batch (D's output per image: a logit, or a vector)."""
    return (d_x - d_tx).pow(2).reshape(d_x.shape[0], -1).sum(1).mean()


@dataclass
class ConsistencyConfig:
    lambda_real: float = ranged(10.0, non_negative())
    lambda_fake: float = ranged(10.0, non_negative())


@register_trick("consistency", config=ConsistencyConfig, order=140)
class Consistency(Trick):
    images_only = True

    def check(self, loss, run_cfg) -> None:
        if self.cfg.lambda_real < 0 or self.cfg.lambda_fake < 0:
            raise GanError("tricks.consistency: lambda_real and lambda_fake must be >= 0")

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        terms = {}
        for side, weight, x, y in (("real", self.cfg.lambda_real, ctx.real, ctx.y_real),
                                   ("fake", self.cfg.lambda_fake, ctx.fake, ctx.y_fake)):
            if weight:
                d_x, d_tx = ctx.D(x, y).float(), ctx.D(consistency_transform(x), y).float()
                terms[side] = weight * consistency_term(d_x, d_tx)
        return terms
