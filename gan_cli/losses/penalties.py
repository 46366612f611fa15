"""Penalties on the discriminator's input gradients, shared by the losses (wgan_gp, wgan_div,
dragan) and the tricks (r1, r2).

Every penalty differentiates D's input gradient a second time (double backward). It is computed
in float32 outside autocast: bf16/fp16 gradients of gradients lose most of their bits, and the
gradient norms are compared to targets such as 1. The network is called uncompiled, since
torch.compile cannot differentiate twice.

"Per input" means per discriminator input: one sample, or one pack of m samples under PacGAN
(D then sees N/m inputs, and the Lipschitz constraint is on the packed input).
"""

from __future__ import annotations

import torch
from torch import nn


def eager(D: nn.Module) -> nn.Module:
    """The module under torch.compile's wrapper (compiled graphs do not support double backward)."""
    return getattr(D, "_orig_mod", D)


def bare(D: nn.Module) -> nn.Module:
    """The discriminator itself under torch.compile's, DDP's and the augmentation's wrappers, for
    its attributes (`pack`, `features`), which the wrappers do not forward."""
    from gan_cli.augment import AugmentedD

    while isinstance(D, nn.Module) and (hasattr(D, "_orig_mod") or isinstance(D, (nn.parallel.DistributedDataParallel, AugmentedD))):
        D = D._orig_mod if hasattr(D, "_orig_mod") else D.module
    return D


def pack_factor(D: nn.Module) -> int:
    return getattr(bare(D), "pack", 1)


def input_gradients(D: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(D(x), dD(x)/dx) at a detached copy of x, in float32, with the graph kept for the penalty's
    own backward. D's outputs are summed before differentiating, so each input's gradient is its
    own output's gradient whenever D treats inputs independently (no batch norm)."""
    D = eager(D)
    with torch.autocast(x.device.type, enabled=False):
        x = x.detach().float().requires_grad_(True)
        out = D(x, y).float()
        (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return out, grad


def per_input(grad: torch.Tensor, num_inputs: int) -> torch.Tensor:
    """Gradients flattened to one row per discriminator input (N, or N/m when packed)."""
    return grad.reshape(num_inputs, -1)


def norm_penalty(D: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, center: float = 1.0) -> torch.Tensor:
    """E (||grad D(x)||_2 - center)^2 (WGAN-GP, DRAGAN)."""
    out, grad = input_gradients(D, x, y)
    norms = torch.linalg.vector_norm(per_input(grad, out.shape[0]), dim=1)
    return (norms - center).pow(2).mean()


def power_penalty(D: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, p: float = 2.0) -> torch.Tensor:
    """E ||grad D(x)||_2^p, written (sum g^2)^(p/2) so p = 2 needs no square root (R1, R2, WGAN-div)."""
    out, grad = input_gradients(D, x, y)
    sq = per_input(grad, out.shape[0]).pow(2).sum(1)
    return sq.mean() if p == 2 else sq.pow(p / 2).mean()


def per_input_uniform(x: torch.Tensor, pack: int = 1) -> torch.Tensor:
    """U[0, 1) draws shaped to broadcast over x: one per discriminator input, shared by the m
    samples of a pack."""
    n = x.shape[0] // pack
    u = torch.rand(n, *([1] * (x.dim() - 1)), device=x.device, dtype=torch.float32)
    return u.repeat_interleave(pack, dim=0) if pack > 1 else u


def interpolate(real: torch.Tensor, fake: torch.Tensor, pack: int = 1) -> torch.Tensor:
    """WGAN-GP's x_hat = e x + (1 - e) x_fake with e ~ U[0, 1] per input (Gulrajani et al. 2017)."""
    real, fake = real.detach().float(), fake.detach().float()
    e = per_input_uniform(real, pack)
    return e * real + (1 - e) * fake


def dragan_points(real: torch.Tensor, scale: float = 0.5, pack: int = 1) -> torch.Tensor:
    """DRAGAN's x_hat = x + a (x_p - x), x_p = x + scale * std(x) * U[0, 1) elementwise, a ~ U[0, 1]
    per input (Kodali et al. 2017, official code: numpy's std over the whole batch, ddof 0)."""
    real = real.detach().float()
    perturbed = real + scale * real.std(correction=0) * torch.rand_like(real)
    a = per_input_uniform(real, pack)
    return real + a * (perturbed - real)
