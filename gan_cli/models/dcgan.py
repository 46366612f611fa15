"""DCGAN (Radford et al. 2016) for square images from 28x28 up to 128x128.

The resolution is written as base * 2^k with a small base (4 for powers of two, 7 for 28):
G projects z to base x base maps with width * 2^(k-1) channels and doubles the side k times,
halving the channels; D mirrors it with strided convs and LeakyReLU(0.2).
"""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.errors import GanError
from gan_cli.models.layers import Discriminator, MinibatchStddev, norm_2d


def factor_resolution(resolution: int, arch: str = "dcgan") -> tuple[int, int]:
    """resolution = base * 2**k with 3 <= base <= 7 and k >= 1."""
    base, k = resolution, 0
    while base > 7 and base % 2 == 0:
        base //= 2
        k += 1
    if base < 3 or base > 7 or k < 1:
        raise GanError(
            f"arch={arch} cannot build {resolution}x{resolution} images: use a side of base*2^k with base "
            "3..7 (e.g. 28, 32, 48, 64, 128), or set dataset.resolution"
        )
    return base, k


class ProjectToMaps(nn.ConvTranspose2d):
    """G's first layer: z, as 1 x 1 maps, to base x base maps. A transposed conv over a 1 x 1 input
    is one matrix product, computed as one here: on a CPU the conv path took 5-10x longer for it
    (a quarter of the default recipe's step). The same weight and bias, so checkpoints, the init
    and spectral norm treat it as the ConvTranspose2d it is."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (1, 1) or self.stride != (1, 1) or self.padding != (0, 0) or self.groups != 1:
            return super().forward(x)
        w, n = self.weight, x.shape[0]  # [in, out, k, k]
        if w.is_contiguous():
            out = (x.flatten(1) @ w.flatten(1)).view(n, *w.shape[1:])
        else:  # channels_last weight: multiply in its own layout (no copy), give channels_last maps
            out = (x.flatten(1) @ w.permute(0, 2, 3, 1).reshape(w.shape[0], -1))
            out = out.view(n, w.shape[2], w.shape[3], w.shape[1]).permute(0, 3, 1, 2)
        return out if self.bias is None else out + self.bias[:, None, None]


class DCGANGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int, resolution: int, width: int = 64, norm: str = "batch",
                 num_classes: int = 0):
        super().__init__()
        base, k = factor_resolution(resolution)
        self.z_dim, self.num_classes = z_dim, num_classes
        # class-conditional: the class embedding is concatenated to z
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        in_dim = z_dim * (2 if num_classes else 1)
        c = width * 2 ** (k - 1)
        layers: list[nn.Module] = [
            ProjectToMaps(in_dim, c, base, 1, 0, bias=norm == "none"),
            norm_2d(norm, c),
            nn.ReLU(True),
        ]
        for _ in range(k - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=norm == "none"), norm_2d(norm, c // 2), nn.ReLU(True)]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        return self.net(z[:, :, None, None])


def dcgan_discriminator(channels: int, resolution: int, width: int = 64, norm: str = "batch", num_classes: int = 0,
                        minibatch_stddev: int | None = None, minibatch_discrimination=None, pack: int = 1) -> Discriminator:
    base, k = factor_resolution(resolution)
    # No norm on the first layer (DCGAN paper). PacGAN: m packed images are m * channels.
    layers: list[nn.Module] = [nn.Conv2d(channels * pack, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    c = width
    for _ in range(k - 1):
        layers += [nn.Conv2d(c, c * 2, 4, 2, 1, bias=norm == "none"), norm_2d(norm, c * 2), nn.LeakyReLU(0.2, True)]
        c *= 2
    neck: nn.Module = nn.Identity()
    if minibatch_stddev:
        # ProGAN: the stddev map joins the features before D's last block (a 3x3 conv here)
        neck = nn.Sequential(MinibatchStddev(minibatch_stddev), nn.Conv2d(c + 1, c, 3, 1, 1), nn.LeakyReLU(0.2, True))
    # The classic final 4x4 conv to one logit is the Linear head over the flattened base x base maps.
    return Discriminator(nn.Sequential(*layers), neck, c * base * base, num_classes, minibatch_discrimination, pack=pack)
