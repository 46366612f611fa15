"""The adaptive augmentation pipeline of StyleGAN2-ADA (Karras et al. 2020), its `bgc` groups.

Each operation is applied to each image independently with probability p (the rotations with
1 - sqrt(1 - p) each, twice, as the paper). Parameter distributions are the official code's:
  blit   xflip (i ~ U{0,1}), rot90 (i ~ U{0..3}), int_translation (t ~ U(-1/8, 1/8) of the
         side, rounded to whole pixels)
  geom   scale (s ~ lognormal(0, (0.2 ln 2)^2)), rotate (theta ~ U(-pi, pi)), aniso
         (s ~ lognormal(0, (0.2 ln 2)^2), x by s and y by 1/s), frac_translation
         (t ~ N(0, (1/8)^2) of the side)
  color  brightness (b ~ N(0, 0.2^2)), contrast (c ~ lognormal(0, (0.5 ln 2)^2)), lumaflip
         (i ~ U{0,1}), hue (theta ~ U(-pi, pi) about the luma axis), saturation
         (s ~ lognormal(0, (ln 2)^2))
The geometric operations are composed into one affine map per image and applied by a single
bilinear resampling with reflection padding (the official code uses a wavelet filter; bilinear is
PyTorch's own, differentiable and close). The colour operations are composed into one 4 x 4
matrix per image. On 1-channel images the matrix acts on the grey value as on (g, g, g): hue and
saturation are the identity there, so they are refused rather than silently doing nothing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gan_cli.errors import GanError

GROUPS = {
    "blit": ("xflip", "rot90", "int_translation"),
    "geom": ("scale", "rotate", "aniso", "frac_translation"),
    "color": ("brightness", "contrast", "lumaflip", "hue", "saturation"),
}
GEOMETRIC = GROUPS["blit"] + GROUPS["geom"]
RGB_ONLY = ("hue", "saturation")
LUMA = torch.tensor([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)  # the luma axis in homogeneous RGB


def resolve_ops(names, channels: int) -> list[str]:
    """Expand groups into operations; on grey data a group keeps its grey-capable operations and a
    named RGB-only operation is refused."""
    ops: list[str] = []
    for name in names:
        if name in GROUPS:
            ops += [op for op in GROUPS[name] if channels == 3 or op not in RGB_ONLY]
        elif name in GEOMETRIC or name in GROUPS["color"]:
            if channels != 3 and name in RGB_ONLY:
                raise GanError(f"tricks.ada.augment: {name} needs RGB images but the data have {channels} channel: "
                               f"drop {name} (the color group keeps brightness, contrast and lumaflip on grey data)")
            ops.append(name)
        else:
            known = ", ".join([*GROUPS, *GEOMETRIC, *GROUPS["color"]])
            raise GanError(f"tricks.ada.augment: unknown augmentation '{name}': choose from {known}")
    return list(dict.fromkeys(ops))  # each once, in the pipeline's order below


def _chance(n: int, p: torch.Tensor, device) -> torch.Tensor:
    """1.0 where an operation is applied to an image (probability p), else 0.0."""
    return (torch.rand(n, device=device) < p).float()


def _eye(n: int, size: int, device) -> torch.Tensor:
    return torch.eye(size, device=device).repeat(n, 1, 1)


def _scale2d(sx, sy):
    m = _eye(len(sx), 3, sx.device)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _rotate2d(theta):
    m = _eye(len(theta), 3, theta.device)
    c, s = torch.cos(theta), torch.sin(theta)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def _translate2d(tx, ty):
    m = _eye(len(tx), 3, tx.device)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def geometric_matrix(ops: list[str], n: int, p: torch.Tensor, size: int, device) -> torch.Tensor:
    """(n, 3, 3): output -> input coordinates in affine_grid's [-1, 1] units (square images)."""
    g = _eye(n, 3, device)
    pixel = 2.0 / size  # one pixel in [-1, 1] units
    ln2 = math.log(2)
    if "xflip" in ops:
        i = torch.randint(2, (n,), device=device) * _chance(n, p, device)
        g = g @ _scale2d(1 - 2 * i, torch.ones(n, device=device))
    if "rot90" in ops:
        i = torch.randint(4, (n,), device=device) * _chance(n, p, device)
        g = g @ _rotate2d(-math.pi / 2 * i)
    if "int_translation" in ops:
        t = (torch.rand(n, 2, device=device) * 2 - 1) * 0.125 * _chance(n, p, device)[:, None]
        t = torch.round(t * size) * pixel
        g = g @ _translate2d(t[:, 0], t[:, 1])
    if "scale" in ops:
        s = torch.exp2(torch.randn(n, device=device) * 0.2 * _chance(n, p, device))
        g = g @ _scale2d(s, s)
    p_rot = 1 - torch.sqrt((1 - p).clamp(min=0))  # applied twice: about p in all
    if "rotate" in ops:
        theta = (torch.rand(n, device=device) * 2 - 1) * math.pi * _chance(n, p_rot, device)
        g = g @ _rotate2d(-theta)
    if "aniso" in ops:
        s = torch.exp(torch.randn(n, device=device) * 0.2 * ln2 * _chance(n, p, device))
        g = g @ _scale2d(s, 1 / s)
    if "rotate" in ops:
        theta = (torch.rand(n, device=device) * 2 - 1) * math.pi * _chance(n, p_rot, device)
        g = g @ _rotate2d(-theta)
    if "frac_translation" in ops:
        t = torch.randn(n, 2, device=device) * 0.125 * _chance(n, p, device)[:, None]
        g = g @ _translate2d(t[:, 0] * size * pixel, t[:, 1] * size * pixel)
    return g


def _luma_projection(device) -> torch.Tensor:
    v = LUMA.to(device)
    return torch.outer(v, v)


def color_matrix(ops: list[str], n: int, p: torch.Tensor, device) -> torch.Tensor:
    """(n, 4, 4) acting on homogeneous RGB in [-1, 1]."""
    c = _eye(n, 4, device)
    vv = _luma_projection(device)
    eye4 = torch.eye(4, device=device)
    ln2 = math.log(2)
    if "brightness" in ops:
        b = torch.randn(n, device=device) * 0.2 * _chance(n, p, device)
        t = _eye(n, 4, device)
        t[:, :3, 3] = b[:, None]
        c = t @ c
    if "contrast" in ops:
        s = torch.exp(torch.randn(n, device=device) * 0.5 * ln2 * _chance(n, p, device))
        m = _eye(n, 4, device)
        m[:, 0, 0] = m[:, 1, 1] = m[:, 2, 2] = s
        c = m @ c
    if "lumaflip" in ops:
        i = torch.randint(2, (n,), device=device) * _chance(n, p, device)
        c = (eye4 - 2 * vv * i.view(n, 1, 1)) @ c  # a Householder reflection when i = 1
    if "hue" in ops:
        theta = (torch.rand(n, device=device) * 2 - 1) * math.pi * _chance(n, p, device)
        c = _rotate_about_luma(theta) @ c
    if "saturation" in ops:
        s = torch.exp(torch.randn(n, device=device) * ln2 * _chance(n, p, device))
        c = (vv + (eye4 - vv) * s.view(n, 1, 1)) @ c
    return c


def _rotate_about_luma(theta: torch.Tensor) -> torch.Tensor:
    """Rodrigues' rotation by theta about the unit luma axis, in homogeneous 4 x 4 form."""
    n, device = len(theta), theta.device
    v = LUMA[:3].to(device)
    k = torch.tensor([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]], device=device)
    s, c = torch.sin(theta).view(n, 1, 1), torch.cos(theta).view(n, 1, 1)
    r = torch.eye(3, device=device) + s * k + (1 - c) * (k @ k)
    m = _eye(n, 4, device)
    m[:, :3, :3] = r
    return m


class AdaPipeline:
    """The chosen operations at the current probability `p` (a 0-d tensor the ADA trick adjusts)."""

    def __init__(self, names, channels: int, p: torch.Tensor):
        self.ops = resolve_ops(names, channels)
        self.geometric = [op for op in self.ops if op in GEOMETRIC]
        self.colour = [op for op in self.ops if op not in GEOMETRIC]
        self.p = p

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, channels, h, w = x.shape
        p = self.p.to(x.device)
        if self.geometric:
            g = geometric_matrix(self.geometric, n, p, w, x.device).to(x.dtype)
            grid = F.affine_grid(g[:, :2, :], list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        if self.colour:
            c = color_matrix(self.colour, n, p, x.device).to(x.dtype)
            if channels == 3:
                x = torch.einsum("nij,njhw->nihw", c[:, :3, :3], x) + c[:, :3, 3].view(n, 3, 1, 1)
            else:  # grey g as (g, g, g): the mean output channel of the RGB map
                gain = c[:, :3, :3].sum(2).mean(1).view(n, 1, 1, 1)
                x = x * gain + c[:, :3, 3].mean(1).view(n, 1, 1, 1)
        return x
