"""Building blocks shared by the networks: norms, initialisation and the discriminator-side
layers of the stabilisation tricks (minibatch discrimination, minibatch stddev)."""

from __future__ import annotations

import torch
from torch import nn

from gan_cli.errors import GanError

NORMS = ("batch", "instance", "layer", "none")


def norm_2d(kind: str, channels: int, affine: bool = True) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=affine)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=affine)
    if kind == "layer":  # normalises over (C, H, W), per-channel affine: LayerNorm for conv maps
        return nn.GroupNorm(1, channels, affine=affine)
    if kind == "none":
        return nn.Identity()
    raise GanError(f"unknown norm '{kind}': choose one of {', '.join(NORMS)}")


def norm_1d(kind: str, features: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(features)
    if kind == "layer":
        return nn.LayerNorm(features)
    if kind == "none":
        return nn.Identity()
    if kind == "instance":
        raise GanError("instance norm needs feature maps; for mlp use batch, layer or none")
    raise GanError(f"unknown norm '{kind}': choose one of {', '.join(NORMS)}")


def activation(kind: str) -> nn.Module:
    if kind == "relu":
        return nn.ReLU()
    if kind == "leaky_relu":
        return nn.LeakyReLU(0.2)
    if kind == "tanh":
        return nn.Tanh()
    raise GanError(f"unknown activation '{kind}': choose relu, leaky_relu or tanh")


def dcgan_init(module: nn.Module) -> None:
    """DCGAN paper: all weights from N(0, 0.02); norm scales from N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)):
            if m.weight is not None:
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)


class ConditionalNorm2d(nn.Module):
    """Conditional batch norm (de Vries et al. 2017; Miyato & Koyama 2018): the norm's scale and
    shift are looked up per class, gamma_y * norm(x) + beta_y. Any kind of `norm_2d` works; batch
    is the published one. Scales start at N(1, 0.02) and shifts at 0, as in mimicry."""

    def __init__(self, kind: str, channels: int, num_classes: int):
        super().__init__()
        if kind == "none":
            raise GanError("a class-conditional generator scales its norm per class: use arch.g_norm=batch "
                           "(or instance, layer), not none")
        self.norm = norm_2d(kind, channels, affine=False)
        self.embed = nn.Embedding(num_classes, 2 * channels)
        with torch.no_grad():
            self.embed.weight[:, :channels].normal_(1.0, 0.02)
            self.embed.weight[:, channels:].zero_()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.embed(y)[:, :, None, None].chunk(2, dim=1)
        return gamma * self.norm(x) + beta


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016: appends o(x_i)_b = sum_{j != i} exp(-||M_i,b - M_j,b||_1) to f(x_i).

    M_i = f(x_i) T with T in R^{A x B x C}. The sum runs over the batch D is called on, so real
    and fake batches are compared within themselves, as in the official code.
    """

    def __init__(self, in_features: int, num_kernels: int = 100, kernel_dim: int = 5):
        super().__init__()
        self.num_kernels, self.kernel_dim = num_kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, num_kernels * kernel_dim) * 0.05)

    @property
    def out_features(self) -> int:
        return self.T.shape[0] + self.num_kernels

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        m = (f @ self.T).view(-1, self.num_kernels, self.kernel_dim).transpose(0, 1)  # (B, N, C)
        # (B, N, N): ||M_i,b - M_j,b||_1. cdist never builds the (N, N, B, C) differences:
        # 3x faster and C times less memory than broadcasting, double-differentiable.
        l1 = torch.cdist(m, m, p=1)
        # exp(0) = 1 for j = i: subtract it to exclude the sample itself.
        o = torch.exp(-l1).sum(2).t() - 1.0  # (N, B)
        return torch.cat([f, o], dim=1)


class MinibatchStddev(nn.Module):
    """ProGAN: std over groups of min(group_size, N) samples, averaged to one value per group,
    appended as one extra feature map (or feature, for flat inputs)."""

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        g = min(self.group_size, n)
        if n % g != 0:
            raise GanError(f"minibatch_stddev: batch {n} is not divisible by group_size {g}: change one of them")
        y = x.reshape(g, n // g, *x.shape[1:]).float()  # sample i is in group i % (n // g)
        std = (y.var(0, unbiased=False) + 1e-8).sqrt()  # (n//g, ...)
        stat = std.reshape(n // g, -1).mean(1).to(x.dtype)  # one value per group
        stat = stat.repeat(g)  # back to (n,), matching the grouping above
        shape = (n, 1, *x.shape[2:])
        return torch.cat([x, stat.view(n, *([1] * (x.dim() - 1))).expand(shape)], dim=1)


class Discriminator(nn.Module):
    """body -> (minibatch stddev) -> neck -> features h (N, A) -> (minibatch discrimination) -> head.

    Every discriminator exposes `features(x)` (the last hidden layer, used by feature matching)
    and, when conditional, adds the projection term <embed(y), h> (Miyato & Koyama 2018).
    With `pack` = m (PacGAN) the body is built for m times the input channels and each run of m
    consecutive samples is judged as one input: N samples give N/m outputs.
    """

    def __init__(self, body: nn.Module, neck: nn.Module, feature_dim: int, num_classes: int = 0,
                 minibatch_discrimination: tuple[int, int] | None = None, linear=nn.Linear, pack: int = 1):
        super().__init__()
        self.body, self.neck, self.pack = body, neck, pack
        self.mbd = MinibatchDiscrimination(feature_dim, *minibatch_discrimination) if minibatch_discrimination else None
        head_in = self.mbd.out_features if self.mbd is not None else feature_dim
        # `linear` builds the head: ProGAN's needs its equalised-learning-rate layer
        self.head = linear(head_in, 1)
        self.embed = nn.Embedding(num_classes, head_in) if num_classes else None

    def packed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, ...) -> (N/m, m*C, ...): samples i*m .. i*m+m-1 side by side along channels."""
        if self.pack == 1:
            return x
        if x.shape[0] % self.pack:
            raise GanError(f"pack.m={self.pack} cannot pack a batch of {x.shape[0]}: use a batch size divisible by it")
        return x.reshape(x.shape[0] // self.pack, self.pack * x.shape[1], *x.shape[2:])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(self.body(self.packed(x))).flatten(1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        if self.mbd is not None:
            h = self.mbd(h)
        out = self.head(h).squeeze(1)
        if self.embed is not None and y is not None:
            out = out + (self.embed(y) * h).sum(1)
        return out
