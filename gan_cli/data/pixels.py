"""Pixel conversions. Images travel as uint8 [0, 255] (on disk, in memory, in sample files) and
become floats in [-1, 1] (tanh's range) only on the training device."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def to_grey(x: torch.Tensor) -> torch.Tensor:
    """uint8 RGB -> uint8 grey, ITU-R 601 luma: 0.299 R + 0.587 G + 0.114 B."""
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (x.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


def resize_uint8(x: torch.Tensor, resolution: int, chunk: int = 4096) -> torch.Tensor:
    """Resize a uint8 batch with antialiasing, in chunks so memory stays bounded."""
    out = []
    for part in x.split(chunk):
        y = F.interpolate(part.float(), size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
        out.append(y.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return x.float().div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255]."""
    return x.detach().float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)
