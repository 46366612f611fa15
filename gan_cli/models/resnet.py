"""Residual GANs as used by WGAN-GP (Gulrajani et al. 2017), SNGAN (Miyato et al. 2018) and the
mimicry library, whose CIFAR-10 scores the presets aim at.

With ch = arch.width (64 reproduces mimicry's networks channel for channel):
  up to 32x32 (CIFAR-10, Fashion-MNIST): G  Linear -> base x base maps of 4ch, one up-block per
      doubling at 4ch; D  four blocks of 2ch, the first two downsampling.
  48, 64, 128 (STL-10, CelebA, ImageNet): G starts at min(16, 2^k) ch and halves per up-block
      down to ch; D doubles from ch per block up to 16ch, at most five of them downsampling.
G ends in norm, ReLU, 3x3 conv, tanh. D ends in ReLU and global pooling into the `Discriminator`
head: a sum (SNGAN) or a mean (WGAN-GP), `arch.variant`. Up-blocks upsample bilinearly, as
mimicry does (SNGAN's Chainer code uses nearest neighbours). Weights start Xavier-uniform with
gain sqrt(2) on the residual convs and 1 elsewhere, as in mimicry.

Class-conditional G: conditional batch norm in every up-block (Miyato & Koyama 2018); D: the
projection term of `Discriminator`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations

from gan_cli.errors import GanError
from gan_cli.models.dcgan import factor_resolution
from gan_cli.models.layers import ConditionalNorm2d, Discriminator, MinibatchStddev, norm_2d

# arch.variant -> global pooling of D's last features
VARIANTS = {"sngan": "sum", "wgan_gp": "mean"}


def twos(n: int) -> int:
    """How many times n divides by 2."""
    k = 0
    while n % 2 == 0 and n > 1:
        n //= 2
        k += 1
    return k


def layout(resolution: int) -> tuple[int, list[int], list[int], list[bool]]:
    """(base side, G channel multipliers from the bottom, D multipliers per block, D downsamples)."""
    base, k = factor_resolution(resolution, "resnet")
    if resolution <= 32:
        n_down = min(2, twos(resolution))
        return base, [4] * (k + 1), [2] * 4, [i < n_down for i in range(4)]
    g = [min(16, 2 ** (k - i)) for i in range(k + 1)]
    n_blocks, n_down = max(5, k + 1), min(5, k + 1, twos(resolution))
    return base, g, [min(16, 2**i) for i in range(n_blocks)], [i < n_down for i in range(n_blocks)]


def xavier(module: nn.Module, gain: float = 1.0) -> nn.Module:
    nn.init.xavier_uniform_(module.weight, gain)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return module


def conv(c_in: int, c_out: int, kernel: int, gain: float, sn: int | None = None) -> nn.Module:
    """A Xavier-initialised conv; spectrally normalised as soon as it exists when `sn` gives the
    power iterations per forward."""
    layer = xavier(nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2), gain)
    return parametrizations.spectral_norm(layer, n_power_iterations=sn) if sn else layer


class GBlock(nn.Module):
    """norm -> ReLU -> up -> conv3x3 -> norm -> ReLU -> conv3x3, plus up -> conv1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, norm: str, num_classes: int = 0):
        super().__init__()
        make_norm = (lambda c: ConditionalNorm2d(norm, c, num_classes)) if num_classes else (lambda c: norm_2d(norm, c))
        self.conditional = bool(num_classes)
        self.n1, self.n2 = make_norm(c_in), make_norm(c_out)
        self.c1, self.c2 = conv(c_in, c_out, 3, math.sqrt(2)), conv(c_out, c_out, 3, math.sqrt(2))
        self.shortcut = conv(c_in, c_out, 1, 1.0)

    def _norm(self, norm: nn.Module, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return norm(h, y) if self.conditional else norm(h)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
        h = self.c1(up(F.relu(self._norm(self.n1, x, y))))
        h = self.c2(F.relu(self._norm(self.n2, h, y)))
        return h + self.shortcut(up(x))


class DBlock(nn.Module):
    """[norm] -> ReLU -> conv3x3 -> [norm] -> ReLU -> conv3x3 [-> avgpool], plus a conv1x1 shortcut
    when the shape changes. The first block ("optimised" in SNGAN's code) starts from the image:
    no activation or norm before its first conv, and its shortcut pools before the 1x1 conv."""

    def __init__(self, c_in: int, c_out: int, norm: str, sn: int | None, downsample: bool, first: bool = False):
        super().__init__()
        self.first, self.downsample = first, downsample
        hidden = c_out if first else c_in
        self.n1 = nn.Identity() if first else norm_2d(norm, c_in)
        self.n2 = nn.Identity() if first else norm_2d(norm, hidden)
        self.c1, self.c2 = conv(c_in, hidden, 3, math.sqrt(2), sn), conv(hidden, c_out, 3, math.sqrt(2), sn)
        learnable = first or downsample or c_in != c_out
        self.shortcut = conv(c_in, c_out, 1, 1.0, sn) if learnable else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c1(x if self.first else F.relu(self.n1(x)))
        h = self.c2(F.relu(self.n2(h)))
        s = x
        if self.first:
            s = self.shortcut(F.avg_pool2d(x, 2))
        elif self.shortcut is not None:
            s = self.shortcut(x)
            s = F.avg_pool2d(s, 2) if self.downsample else s
        return (F.avg_pool2d(h, 2) if self.downsample else h) + s


class GlobalPool(nn.Module):
    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum((2, 3)) if self.mode == "sum" else x.mean((2, 3))


class ResNetGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int, resolution: int, width: int = 64, norm: str = "batch",
                 num_classes: int = 0):
        super().__init__()
        base, mults, _, _ = layout(resolution)
        self.z_dim, self.num_classes, self.base = z_dim, num_classes, base
        chans = [m * width for m in mults]
        self.fc = xavier(nn.Linear(z_dim, base * base * chans[0]))
        self.blocks = nn.ModuleList(GBlock(a, b, norm, num_classes) for a, b in zip(chans[:-1], chans[1:]))
        self.out_norm = norm_2d(norm, chans[-1])
        self.out_conv = conv(chans[-1], channels, 3, 1.0)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes and y is None:
            raise GanError("this generator is class-conditional: pass class labels (e.g. class=K)")
        h = self.fc(z).view(len(z), -1, self.base, self.base)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.out_conv(F.relu(self.out_norm(h))))


def resnet_discriminator(channels: int, resolution: int, width: int = 64, norm: str = "none", num_classes: int = 0,
                         variant: str = "sngan", spectral_norm: int | None = None, minibatch_stddev: int | None = None,
                         minibatch_discrimination=None) -> Discriminator:
    """`spectral_norm`: power iterations per forward (tricks=[spectral_norm]), None for none. Every
    layer is normalised as it is created, right after its Xavier draw, so a seed gives the weights
    and power-iteration vectors it always gave (the trick normalising the finished D would draw
    the vectors after all the weights)."""
    if variant not in VARIANTS:
        raise GanError(f"arch.variant={variant} is not a resnet variant: choose {' or '.join(VARIANTS)}")
    pooling, sn = VARIANTS[variant], spectral_norm
    _, _, mults, downs = layout(resolution)
    chans = [m * width for m in mults]
    blocks = [DBlock(c_in, c_out, norm, sn, down, first=i == 0)
              for i, (c_in, c_out, down) in enumerate(zip([channels, *chans[:-1]], chans, downs))]
    last = blocks.pop()
    neck: list[nn.Module] = []
    if minibatch_stddev:
        # ProGAN: the stddev map joins the features before D's last block
        neck.append(MinibatchStddev(minibatch_stddev))
        last = DBlock(last.c1.in_channels + 1, chans[-1], norm, sn, last.downsample)
    neck += [last, nn.ReLU(), GlobalPool(pooling)]
    D = Discriminator(nn.Sequential(*blocks), nn.Sequential(*neck), chans[-1], num_classes, minibatch_discrimination)
    xavier(D.head)
    if D.embed is not None:
        xavier(D.embed)
    D.spectral_norm_built_in = bool(sn)  # so the spectral_norm trick leaves D alone
    if sn:  # SNGAN normalises every layer of D, the projection embedding included (mimicry's cGAN-PD)
        D.head = parametrizations.spectral_norm(D.head, n_power_iterations=sn)
        if D.embed is not None:
            D.embed = parametrizations.spectral_norm(D.embed, n_power_iterations=sn)
    return D
