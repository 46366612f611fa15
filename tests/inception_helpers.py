"""Images for the Inception tests (the random weights come from gan_cli.metrics.inception)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def smooth_images(n: int, seed: int, size: int = 16, coarse: int = 4, shift: float = 0.0) -> torch.Tensor:
    """uint8 (n, 3, size, size): coarse noise upsampled, a little fine noise, optionally brightened."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, coarse, coarse, generator=gen)
    x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)
    x = x + 0.15 * torch.rand(n, 3, size, size, generator=gen) + shift
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)
