"""BigGAN (Brock et al. 2019, "Large Scale GAN Training for High Fidelity Natural Image
Synthesis"), laid out as in ajbrock/BigGAN-PyTorch, whose forward outputs these networks
reproduce to 1e-5 (tests/unit/models/test_archs_biggan.py, against weights and outputs of the official code).

G: z (split into equal chunks across the blocks when `hierarchical`: the first chunk feeds the
first dense layer, each block gets its own) -> dense -> 4x4 maps -> residual up-blocks (nearest
2x) whose batch norms are class-conditional: scale 1 + gain(c) and shift bias(c), where c is a
class embedding shared by all blocks and joined to the block's z chunk (`shared_dim` > 0), or a
per-block embedding of the class (shared_dim = 0, the CIFAR-10 script) -> BN, ReLU, conv, tanh.
D: residual down-blocks (pre-activation after the first, "wide": hidden width = output width),
ReLU, global sum pooling, a dense output plus the projection term <embed(y), h>.
Self-attention (SAGAN) follows the block whose output has the `attention` resolution. Every conv
and dense layer of G and D is spectrally normalised (one power iteration per training forward;
torch's parametrization), the class embeddings of G are not.

Layouts (channels in units of `width`, the official G_ch/D_ch): 32 px G 4,4,4 / D 4,4,4,4
(two downsampling), 64 px G 16,8,4,2 / D 1,2,4,8,16, 128 px G 16,8,4,2,1 / D 1,2,4,8,16,16.
Unconditional data is treated as one class (the projection is then a learned direction).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gan_cli.errors import GanError

# resolution -> G (in, out) channel multipliers per block; D (in, out, downsample) per block and
# the resolution the official code looks up for D's attention after each block
G_LAYOUTS = {
    32: ([4, 4, 4], [4, 4, 4]),
    64: ([16, 16, 8, 4], [16, 8, 4, 2]),
    128: ([16, 16, 8, 4, 2], [16, 8, 4, 2, 1]),
    256: ([16, 16, 8, 8, 4, 2], [16, 8, 8, 4, 2, 1]),
}
D_LAYOUTS = {
    32: ([0, 4, 4, 4], [4, 4, 4, 4], [True, True, False, False], [16, 16, 16, 16]),
    64: ([0, 1, 2, 4, 8], [1, 2, 4, 8, 16], [True] * 4 + [False], [32, 16, 8, 4, 4]),
    128: ([0, 1, 2, 4, 8, 16], [1, 2, 4, 8, 16, 16], [True] * 5 + [False], [64, 32, 16, 8, 4, 4]),
    256: ([0, 1, 2, 4, 8, 8, 16], [1, 2, 4, 8, 8, 16, 16], [True] * 6 + [False], [128, 64, 32, 16, 8, 4, 4]),
}
BOTTOM = 4


def check_resolution(resolution: int) -> None:
    if resolution not in G_LAYOUTS:
        raise GanError(f"arch=biggan has layouts for {', '.join(map(str, G_LAYOUTS))} px, not {resolution}: "
                       "set dataset.resolution to one of them")


def conv3(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1)


def conv1(c_in: int, c_out: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 1, bias=bias)


class ConditionalBatchNorm(nn.Module):
    """BN without affine, then (1 + gain(c)) * x + bias(c). c is the shared embedding joined to a z
    chunk (mapped by dense layers) or a class index (looked up in embeddings)."""

    def __init__(self, channels: int, cond_dim: int, num_classes: int, eps: float = 1e-5):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False, eps=eps)
        if cond_dim:
            self.gain, self.bias = nn.Linear(cond_dim, channels, bias=False), nn.Linear(cond_dim, channels, bias=False)
        else:
            self.gain, self.bias = nn.Embedding(num_classes, channels), nn.Embedding(num_classes, channels)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * (1 + self.gain(c))[:, :, None, None] + self.bias(c)[:, :, None, None]


class GBlock(nn.Module):
    """CBN, ReLU, up 2x, conv3x3, CBN, ReLU, conv3x3; shortcut: up 2x, conv1x1."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, num_classes: int):
        super().__init__()
        self.bn1 = ConditionalBatchNorm(c_in, cond_dim, num_classes)
        self.bn2 = ConditionalBatchNorm(c_out, cond_dim, num_classes)
        self.conv1, self.conv2, self.conv_sc = conv3(c_in, c_out), conv3(c_out, c_out), conv1(c_in, c_out)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, c)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), c)))
        return h + self.conv_sc(F.interpolate(x, scale_factor=2))


class SelfAttention(nn.Module):
    """SAGAN: x + gamma * o(g(x) softmax(theta(x)^T phi(x))), phi and g max-pooled 2x; gamma
    starts at 0, so the block starts as the identity."""

    def __init__(self, channels: int):
        super().__init__()
        self.theta, self.phi = conv1(channels, channels // 8, False), conv1(channels, channels // 8, False)
        self.g, self.o = conv1(channels, channels // 2, False), conv1(channels // 2, channels, False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        n, ch, h, w = x.shape
        theta = self.theta(x).view(n, ch // 8, h * w)
        phi = F.max_pool2d(self.phi(x), 2).view(n, ch // 8, h * w // 4)
        g = F.max_pool2d(self.g(x), 2).view(n, ch // 2, h * w // 4)
        beta = F.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (n, hw, hw/4)
        return x + self.gamma * self.o((g @ beta.transpose(1, 2)).view(n, ch // 2, h, w))


def spectral_normalise(module: nn.Module, kinds: tuple[type, ...], eps: float = 1e-8) -> None:
    for m in list(module.modules()):
        if isinstance(m, kinds):
            spectral_norm(m, eps=eps)


def init_weights(module: nn.Module, style: str) -> None:
    """ortho: the paper's orthogonal init; n02: N(0, 0.02), the CIFAR-10 script's. Conv, dense and
    embedding weights only, as the official code."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
            if style == "ortho":
                nn.init.orthogonal_(m.weight)
            else:
                nn.init.normal_(m.weight, 0.0, 0.02)


class BigGANGenerator(nn.Module):
    def __init__(self, z_dim: int, img_channels: int, resolution: int, num_classes: int = 0, width: int = 64,
                 shared_dim: int = 128, hierarchical: bool = True, attention: int = 64, init: str = "ortho"):
        super().__init__()
        check_resolution(resolution)
        ins, outs = G_LAYOUTS[resolution]
        self.num_classes = num_classes
        self.classes = max(num_classes, 1)  # unconditional: one class
        self.hierarchical, self.shared_dim = hierarchical, shared_dim
        slots = len(ins) + 1 if hierarchical else 1
        self.chunk = z_dim // slots
        self.z_dim = self.chunk * slots  # the official code drops the remainder
        cond_dim = shared_dim + (self.chunk if hierarchical else 0) if shared_dim else 0
        if hierarchical and not shared_dim:
            raise GanError("arch.hierarchical=true joins z chunks to the shared class embedding: set arch.shared_dim "
                           "(e.g. 128) or arch.hierarchical=false")
        self.shared = nn.Embedding(self.classes, shared_dim) if shared_dim else None
        self.linear = nn.Linear(self.chunk if hierarchical else self.z_dim, ins[0] * width * BOTTOM**2)
        blocks = []
        for i, (a, b) in enumerate(zip(ins, outs)):
            stage = [GBlock(a * width, b * width, cond_dim, self.classes)]
            if BOTTOM * 2 ** (i + 1) == attention:
                stage.append(SelfAttention(b * width))
            blocks.append(nn.ModuleList(stage))
        self.blocks = nn.ModuleList(blocks)
        self.out_bn = nn.BatchNorm2d(outs[-1] * width, eps=1e-5)
        self.out_conv = conv3(outs[-1] * width, img_channels)
        init_weights(self, init)
        # the class embeddings stay plain, as in the official G
        spectral_normalise(self, (nn.Conv2d, nn.Linear))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            if self.num_classes:
                raise GanError("this generator is class-conditional: pass class labels (e.g. class=K)")
            y = torch.zeros(len(z), dtype=torch.long, device=z.device)
        c = self.shared(y) if self.shared is not None else y
        if self.hierarchical:
            first, *rest = z.split(self.chunk, dim=1)
            conds = [torch.cat([c, chunk], dim=1) for chunk in rest]
        else:
            first, conds = z, [c] * len(self.blocks)
        h = self.linear(first).view(len(z), -1, BOTTOM, BOTTOM)
        for stage, cond in zip(self.blocks, conds):
            for layer in stage:
                h = layer(h, cond)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))


class DBlock(nn.Module):
    """[ReLU] conv3x3, ReLU, conv3x3 [avgpool 2x]; shortcut conv1x1 and pool (pool first in the
    first block, which sees the image without pre-activation)."""

    def __init__(self, c_in: int, c_out: int, downsample: bool, preactivation: bool):
        super().__init__()
        self.downsample, self.preactivation = downsample, preactivation
        self.conv1, self.conv2 = conv3(c_in, c_out), conv3(c_out, c_out)
        self.conv_sc = conv1(c_in, c_out) if (c_in != c_out or downsample) else None

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        pool = (lambda t: F.avg_pool2d(t, 2)) if self.downsample else (lambda t: t)
        conv = self.conv_sc if self.conv_sc is not None else (lambda t: t)
        return pool(conv(x)) if self.preactivation else conv(pool(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(F.relu(x) if self.preactivation else x)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        return h + self.shortcut(x)


class BigGANDiscriminator(nn.Module):
    def __init__(self, img_channels: int, resolution: int, num_classes: int = 0, width: int = 64,
                 attention: int = 64, init: str = "ortho"):
        super().__init__()
        check_resolution(resolution)
        ins, outs, downs, res = D_LAYOUTS[resolution]
        self.num_classes = num_classes
        blocks = []
        for i, (a, b, down, r) in enumerate(zip(ins, outs, downs, res)):
            stage = [DBlock(a * width if a else img_channels, b * width, down, preactivation=i > 0)]
            if r == attention:
                stage.append(SelfAttention(b * width))
            blocks.append(nn.Sequential(*stage))
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(outs[-1] * width, 1)
        self.embed = nn.Embedding(max(num_classes, 1), outs[-1] * width)
        init_weights(self, init)
        spectral_normalise(self, (nn.Conv2d, nn.Linear, nn.Embedding))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.blocks(x)).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            y = torch.zeros(len(x), dtype=torch.long, device=x.device)
        h = self.features(x)
        return self.linear(h).squeeze(1) + (self.embed(y) * h).sum(1)
