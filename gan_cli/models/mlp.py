"""Multi-layer perceptrons for the 2-D mixtures and flattened images."""

from __future__ import annotations

import math

import torch
from torch import nn

from gan_cli.models.layers import Discriminator, MinibatchStddev, activation, norm_1d


def _stack(sizes: list[int], norm: str, act: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers.append(nn.Linear(a, b))
        layers.append(norm_1d(norm, b))
        layers.append(activation(act))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    def __init__(self, z_dim: int, out_shape: tuple[int, ...], hidden: list[int], norm: str, act: str,
                 num_classes: int = 0, image: bool = False):
        super().__init__()
        self.z_dim, self.out_shape, self.num_classes = z_dim, tuple(out_shape), num_classes
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        in_dim = z_dim * (2 if num_classes else 1)
        self.body = _stack([in_dim, *hidden], norm, act)
        self.out = nn.Linear(hidden[-1] if hidden else in_dim, math.prod(out_shape))
        self.image = image  # images end in tanh ([-1, 1]); 2-D points are unbounded

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        x = self.out(self.body(z))
        if self.image:
            x = torch.tanh(x)
        return x.view(-1, *self.out_shape)


def mlp_discriminator(in_shape: tuple[int, ...], hidden: list[int], norm: str, act: str, num_classes: int = 0,
                      minibatch_stddev: int | None = None, minibatch_discrimination=None, pack: int = 1) -> Discriminator:
    in_dim = math.prod(in_shape) * pack
    body = nn.Sequential(nn.Flatten(), _stack([in_dim, *hidden], norm, act))
    width = hidden[-1] if hidden else in_dim
    neck: nn.Module = nn.Identity()
    if minibatch_stddev:
        # one extra feature (the batch's mean std) before a last hidden layer
        neck = nn.Sequential(MinibatchStddev(minibatch_stddev), nn.Linear(width + 1, width), activation(act))
    return Discriminator(body, neck, width, num_classes, minibatch_discrimination, pack=pack)
