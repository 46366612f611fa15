"""Progressive GAN (Karras et al. 2018): networks that grow from 4x4 to the dataset's resolution.

Every block exists from the start, so the optimizers' state covers all of them and survives
growing; a `GrowthSchedule` (models/growth.py) sets which are used. Level l works at 4 * 2^l
pixels with nf(l) = min(width, 8 * width / 2^l) channels (the paper's fmap_base 8192 and
fmap_max 512 at width=512). While a new level fades in, G blends the upsampled output of the
previous level's toRGB into the new one with weight alpha, and D blends the new fromRGB path
with the pooled image through the previous level's fromRGB.

Layers use the equalised learning rate (weights N(0, 1), scaled at run time by
gain / sqrt(fan_in)); G normalises every pixel's feature vector after each conv (and the
latent); D appends a minibatch-stddev map before its last block. G's output is linear (no tanh).

Unlike the official code, which runs every phase at full resolution (reals and fakes upscaled),
each phase here runs at its own resolution: cheaper, and the gradient penalty measures D's
gradient at the resolution D actually sees (upscaling by s divides that norm by s).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gan_cli.errors import GanError
from gan_cli.models.layers import Discriminator, MinibatchStddev

LRELU = 0.2


class EqualizedLinear(nn.Module):
    def __init__(self, c_in: int, c_out: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = gain / math.sqrt(c_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class EqualizedConv2d(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = gain / math.sqrt(c_in * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class PixelNorm(nn.Module):
    """x / sqrt(mean over channels of x^2 + 1e-8), at every pixel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)


def conv_act(c_in: int, c_out: int, kernel: int = 3, pixel_norm: bool = False) -> list[nn.Module]:
    layers = [EqualizedConv2d(c_in, c_out, kernel), nn.LeakyReLU(LRELU)]
    return layers + [PixelNorm()] if pixel_norm else layers


def levels_for(resolution: int) -> int:
    """The top level: resolution = 4 * 2^level."""
    level = int(math.log2(resolution // 4)) if resolution >= 4 else -1
    if resolution < 8 or 4 * 2**level != resolution:
        raise GanError(f"arch=progan grows from 4x4 by doubling: dataset.resolution={resolution} is not a power "
                       "of two from 8: set dataset.resolution=32 (or 64, 128, ...)")
    return level


def channels_at(level: int, width: int) -> int:
    return max(1, min(width, (8 * width) >> level))


class Growing(nn.Module):
    """A network part that works at level `level` (4 * 2^level pixels) and, while `fading`, blends
    that level's newest block in with weight `alpha`.

    alpha is a buffer (EMA copies and checkpoints carry it, and changing it recompiles nothing);
    level and fading steer Python control flow, so they are plain attributes kept in the state
    dict as extra state. A fresh network works at full resolution.
    """

    def __init__(self, max_level: int):
        super().__init__()
        self.max_level, self.level, self.fading = max_level, max_level, False
        self.register_buffer("alpha", torch.ones(()))

    def set_phase(self, level: int, alpha: float) -> None:
        self.level, self.fading = int(level), alpha < 1.0
        self.alpha.fill_(alpha)

    def get_extra_state(self) -> dict:
        return {"level": self.level, "fading": self.fading}

    def set_extra_state(self, state: dict) -> None:
        self.level, self.fading = int(state["level"]), bool(state["fading"])

    def blend(self, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        return old + (new - old) * self.alpha.to(new.dtype)


class ProGANGenerator(Growing):
    def __init__(self, z_dim: int, channels: int, resolution: int, width: int = 512):
        super().__init__(levels_for(resolution))
        self.z_dim, self.num_classes, self.resolution = z_dim, 0, resolution
        c0 = channels_at(0, width)
        # 4x4: a dense layer to 4x4 maps (gain sqrt(2)/4 as in the official code), then a conv
        self.fc = EqualizedLinear(z_dim, 16 * c0, gain=math.sqrt(2) / 4)
        self.first = nn.Sequential(nn.LeakyReLU(LRELU), PixelNorm(), *conv_act(c0, c0, pixel_norm=True))
        self.blocks = nn.ModuleList([nn.Identity()])  # level 0 is `first`
        for level in range(1, self.max_level + 1):
            c_in, c_out = channels_at(level - 1, width), channels_at(level, width)
            self.blocks.append(nn.Sequential(*conv_act(c_in, c_out, pixel_norm=True),
                                             *conv_act(c_out, c_out, pixel_norm=True)))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(channels_at(lv, width), channels, 1, gain=1.0)
                                    for lv in range(self.max_level + 1))
        self.pixel_norm = PixelNorm()

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.first(self.fc(self.pixel_norm(z)).view(len(z), -1, 4, 4))
        previous = h
        for level in range(1, self.level + 1):
            previous = h
            h = self.blocks[level](F.interpolate(h, scale_factor=2, mode="nearest"))
        out = self.to_rgb[self.level](h)
        if self.fading and self.level > 0:
            old = F.interpolate(self.to_rgb[self.level - 1](previous), scale_factor=2, mode="nearest")
            out = self.blend(old, out)
        if not self.training and out.shape[-1] < self.resolution:
            # samples and scores always come at the dataset's resolution
            out = F.interpolate(out, size=self.resolution, mode="nearest")
        return out


class ProGANBody(Growing):
    """D from the image at the current level down to 4x4 features (the last block is the neck)."""

    def __init__(self, channels: int, resolution: int, width: int):
        super().__init__(levels_for(resolution))
        self.from_rgb = nn.ModuleList(nn.Sequential(EqualizedConv2d(channels, channels_at(lv, width), 1),
                                                    nn.LeakyReLU(LRELU))
                                      for lv in range(self.max_level + 1))
        self.blocks = nn.ModuleList([nn.Identity()])  # level 0 is the neck
        for level in range(1, self.max_level + 1):
            c_in, c_out = channels_at(level, width), channels_at(level - 1, width)
            self.blocks.append(nn.Sequential(*conv_act(c_in, c_in), *conv_act(c_in, c_out), nn.AvgPool2d(2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = 4 * 2**self.level
        if x.shape[-1] != side:
            raise GanError(f"progan D works at {side}x{side} now but got {x.shape[-1]}x{x.shape[-1]} images")
        h = self.from_rgb[self.level](x)
        if self.level > 0:
            h = self.blocks[self.level](h)
            if self.fading:
                h = self.blend(self.from_rgb[self.level - 1](F.avg_pool2d(x, 2)), h)
            for level in range(self.level - 1, 0, -1):
                h = self.blocks[level](h)
        return h


def progan_discriminator(channels: int, resolution: int, width: int = 512, num_classes: int = 0,
                         minibatch_stddev: int | None = None, minibatch_discrimination=None) -> Discriminator:
    c0 = channels_at(0, width)
    neck = nn.Sequential(
        MinibatchStddev(minibatch_stddev or 4),  # part of ProGAN's D, on with or without the trick
        *conv_act(c0 + 1, c0),
        nn.Flatten(),
        EqualizedLinear(16 * c0, width),
        nn.LeakyReLU(LRELU),
    )
    body = ProGANBody(channels, resolution, width)
    head = lambda c_in, c_out: EqualizedLinear(c_in, c_out, gain=1.0)  # noqa: E731
    return Discriminator(body, neck, width, num_classes, minibatch_discrimination, linear=head)
