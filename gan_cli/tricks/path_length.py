"""Path-length regularisation (Karras et al. 2020, StyleGAN2 section 3.2), arch=stylegan2.

For w = mapping(z) and images g(w) of H x W pixels, with y ~ N(0, I) / sqrt(H W):
  a = ||J_w^T y||_2 (per sample; J^T y = grad_w <g(w), y>, summed over the w's layers, averaged),
  mean <- mean + decay * (E[a] - mean)   (a running mean, kept in checkpoints)
  penalty = weight * E[(a - mean)^2],
on batch_size / batch_shrink fresh samples every `every`-th G update, scaled by `every` (lazy
regularisation), as the official loss (the running mean carries E[a]'s gradient there too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gan_cli.config_ranges import FRACTION, count, non_negative, ranged
from gan_cli.errors import GanError
from gan_cli.tricks.base import StepContext, Trick, register_trick


@dataclass
class PathLengthConfig:
    weight: float = ranged(2.0, non_negative())
    every: int = ranged(4, count(10**6))  # lazy: every N-th G update, scaled by N
    decay: float = ranged(0.01, FRACTION)  # of the running mean path length
    batch_shrink: int = ranged(2, count(4096))  # computed on batch_size / batch_shrink samples


@register_trick("path_length", config=PathLengthConfig, order=150)
class PathLength(Trick):
    arch = "stylegan2"

    def __init__(self, cfg, run_cfg):
        super().__init__(cfg, run_cfg)
        self.g_updates = 0
        self.mean = torch.zeros(())

    def check(self, loss, run_cfg) -> None:
        if run_cfg.arch.name != self.arch:
            raise GanError(f"tricks=[path_length] regularises the mapping from w to images, which arch={run_cfg.arch.name} "
                           "has not: use arch=stylegan2 or drop path_length")
        if self.cfg.weight < 0 or self.cfg.every < 1 or self.cfg.batch_shrink < 1 or not 0 < self.cfg.decay <= 1:
            raise GanError("path_length: need weight >= 0, every >= 1, batch_shrink >= 1 and 0 < decay <= 1")

    def penalty(self, G, n: int, y: torch.Tensor | None) -> torch.Tensor:
        device = next(G.parameters()).device
        z = torch.randn(n, G.z_dim, device=device)
        ws = G.mapping(z, y)
        if G.style_mixing > 0:
            ws = G.mix_styles(ws, y)
        img = G.synthesis(ws)
        noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        (grad,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
        lengths = grad.square().sum(2).mean(1).sqrt()
        mean = self.mean.to(device).lerp(lengths.mean(), self.cfg.decay)
        self.mean = mean.detach()
        return (lengths - mean).square().mean()

    def g_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        if self.g_updates % self.cfg.every:
            return {"penalty": ctx.fake.new_zeros((), dtype=torch.float32)}
        n = max(1, ctx.fake.shape[0] // self.cfg.batch_shrink)
        y = None if ctx.y_fake is None else ctx.y_fake[:n]
        return {"penalty": self.cfg.weight * self.cfg.every * self.penalty(ctx.G, n, y)}

    def after_g_step(self, G, step: int) -> None:
        self.g_updates += 1

    def state_dict(self) -> dict:
        return {"g_updates": self.g_updates, "mean": self.mean.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.g_updates = int(state.get("g_updates", 0))
        self.mean = state.get("mean", torch.zeros(())).clone()
