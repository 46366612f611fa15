"""DiffAugment (Zhao et al. 2020): colour, translation and cutout, differentiable, drawn per image.

Policies and strengths as in the official code (images in [-1, 1]):
  color:        brightness x + (u - 0.5); saturation (x - mean_c x) * 2u + mean_c x;
                contrast (x - mean x) * (u + 0.5) + mean x              (u ~ U[0, 1) per image)
  translation:  an integer shift of up to 1/8 of the side in each axis, zero fill
  cutout:       a square of half the side set to 0, its centre uniform over the image
Saturation mixes channels: on 1-channel images it is the identity, so `color` there is
brightness and contrast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_cli.errors import GanError

TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2


def _uniform(x: torch.Tensor) -> torch.Tensor:
    """One U[0, 1) draw per image, shaped to broadcast over it."""
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)


def brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (_uniform(x) - 0.5)


def saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_uniform(x) * 2) + mean


def contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x) + 0.5) + mean


def shift(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Each image moved by whole pixels (dx right, dy down), zeros coming in. Nearest-neighbour
    sampling at exact pixel centres copies pixels, and passes gradients back to them."""
    n, _, h, w = x.shape
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = -2 * dx.to(x.dtype) / w  # the grid says where each output pixel reads from
    theta[:, 1, 2] = -2 * dy.to(x.dtype) / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def translation(x: torch.Tensor, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    n, _, h, w = x.shape
    sx, sy = int(w * ratio + 0.5), int(h * ratio + 0.5)
    dx = torch.randint(-sx, sx + 1, (n,), device=x.device)
    dy = torch.randint(-sy, sy + 1, (n,), device=x.device)
    return shift(x, dx, dy)


def cutout_mask(n: int, h: int, w: int, centre_y: torch.Tensor, centre_x: torch.Tensor,
                size: tuple[int, int], dtype=torch.float32) -> torch.Tensor:
    """(n, 1, h, w): 0 inside a size[0] x size[1] square centred at (centre_y, centre_x), 1 outside."""
    rows = torch.arange(h, device=centre_y.device)
    cols = torch.arange(w, device=centre_x.device)
    top, left = (centre_y - size[0] // 2).view(n, 1), (centre_x - size[1] // 2).view(n, 1)
    in_rows = (rows >= top) & (rows < top + size[0])  # (n, h)
    in_cols = (cols >= left) & (cols < left + size[1])  # (n, w)
    return (~(in_rows[:, :, None] & in_cols[:, None, :])).to(dtype).unsqueeze(1)


def cutout(x: torch.Tensor, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    n, _, h, w = x.shape
    size = (int(h * ratio + 0.5), int(w * ratio + 0.5))
    # as the official code: centres in [0, side], or [0, side) for an odd square
    cy = torch.randint(0, h + (1 - size[0] % 2), (n,), device=x.device)
    cx = torch.randint(0, w + (1 - size[1] % 2), (n,), device=x.device)
    return x * cutout_mask(n, h, w, cy, cx, size, x.dtype)


POLICIES = {"color": (brightness, saturation, contrast), "translation": (translation,), "cutout": (cutout,)}


def parse_policy(policy: str) -> list[str]:
    names = [p.strip() for p in str(policy).split(",") if p.strip()]
    unknown = [p for p in names if p not in POLICIES]
    if unknown or not names:
        raise GanError(f"tricks.diffaugment.policy={policy}: use a comma-separated list of "
                       f"{', '.join(POLICIES)} (e.g. color,translation,cutout)")
    return names


class DiffAugment:
    """The policy's operations in order, every one applied to every image (as the paper does)."""

    def __init__(self, policy: str, channels: int = 3):
        ops = [op for name in parse_policy(policy) for op in POLICIES[name]]
        # saturation is the identity on one channel: skip its cost
        self.ops = [op for op in ops if not (op is saturation and channels == 1)]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for op in self.ops:
            x = op(x)
        return x
