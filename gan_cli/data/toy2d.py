"""The 2-D Gaussian mixtures of the mode-collapse literature (PacGAN / VEEGAN), generated.

ring: 8 Gaussians with means (cos 2 pi i/8, sin 2 pi i/8), std 0.01.
grid: 25 Gaussians with means {-4, -2, 0, 2, 4}^2, std 0.05.
"""

from __future__ import annotations

import math

import torch

PAPER_STD = {"ring": 0.01, "grid": 0.05}


def mixture_means(name: str) -> torch.Tensor:
    if name == "ring":
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        return torch.stack([angles.cos(), angles.sin()], dim=1).float()
    if name == "grid":
        axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
        xs, ys = torch.meshgrid(axis, axis, indexing="ij")
        return torch.stack([xs.flatten(), ys.flatten()], dim=1)
    raise ValueError(f"unknown 2-D mixture '{name}'")


class GaussianMixture:
    """An endless source of points; each batch is drawn fresh from a dedicated generator."""

    kind = "toy"
    channels = 0
    resolution = 0
    num_classes = 0

    def __init__(self, name: str, std: float | None = None):
        self.name = name
        self.means = mixture_means(name)
        self.std = PAPER_STD[name] if std is None else float(std)
        self.shape = (2,)
        # 2-D points are drawn fresh, not stored: the sample count is only nominal.
        self.num_examples = 0

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        modes = torch.randint(len(self.means), (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator)
        return self.means[modes] + self.std * noise, modes

    def describe(self) -> str:
        return f"{self.name}: {len(self.means)} Gaussians, std {self.std}"
