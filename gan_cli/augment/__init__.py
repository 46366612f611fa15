"""Differentiable augmentations of the images a discriminator sees (DiffAugment, ADA).

`AugmentedD` is the one place they act: the trainer wraps D in it when a trick declares an
augmentation, so every call of D (the loss's, a gradient penalty's, a trick's, in both phases)
sees augmented images, and gradients reach G through the augmentation. Gradient penalties are
then taken with respect to the image before augmentation, through it, as the official
DiffAugment and StyleGAN2-ADA code do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

Augment = Callable[[torch.Tensor], torch.Tensor]


class AugmentedD(nn.Module):
    """D(augment(x), y): the augmentations in order, then the wrapped discriminator."""

    def __init__(self, module: nn.Module, augments: Sequence[Augment]):
        super().__init__()
        self.module = module
        self.augments = list(augments)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        # in float32: sampling grids and colour matrices in bf16 would misplace pixels
        with torch.autocast(x.device.type, enabled=False):
            x = apply_all(self.augments, x.float())
        return self.module(x, y)


def apply_all(augments: Sequence[Augment], x: torch.Tensor) -> torch.Tensor:
    for augment in augments:
        x = augment(x)
    return x
