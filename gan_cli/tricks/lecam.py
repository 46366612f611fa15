"""LeCam regularisation (Tseng et al. 2021): D's outputs are pulled toward moving averages of its
outputs on the other side, which bounds how far apart it can push reals and fakes.

  paper:  R_LC = E ||D(x) - a_F||^2 + E ||D(G(z)) - a_R||^2
  code:   R_LC = E relu(D(x) - a_F)^2 + E relu(a_R - D(G(z)))^2     (the official code; default)
a_R, a_F: exponential moving averages (decay 0.99, zero-debiased as tf's assign_moving_average in
the official StyleGAN2 code) of the batch means of D(x) and D(G(z)), updated before the term is
computed. Added to D's loss with `weight` (official BigGAN CIFAR scripts: 0.3). The averages are
in checkpoints: a resumed run continues them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gan_cli.config_ranges import FRACTION, non_negative, ranged
from gan_cli.errors import GanError
from gan_cli.tricks.base import StepContext, Trick, register_trick

FORMS = ("code", "paper")


def lecam_term(d_real: torch.Tensor, d_fake: torch.Tensor, avg_real: torch.Tensor, avg_fake: torch.Tensor,
               form: str = "code") -> torch.Tensor:
    if form == "paper":
        return (d_real - avg_fake).pow(2).mean() + (d_fake - avg_real).pow(2).mean()
    return F.relu(d_real - avg_fake).pow(2).mean() + F.relu(avg_real - d_fake).pow(2).mean()


@dataclass
class LeCamConfig:
    weight: float = ranged(0.3, non_negative())  # lambda (the official BigGAN CIFAR scripts)
    decay: float = ranged(0.99, FRACTION)  # of the moving averages a_R, a_F
    form: str = "code"  # code: relu as the official code | paper: plain squares


@register_trick("lecam", config=LeCamConfig, order=130)
class LeCam(Trick):
    def __init__(self, cfg, run_cfg):
        super().__init__(cfg, run_cfg)
        self.ema_real = torch.zeros(())
        self.ema_fake = torch.zeros(())
        self.updates = 0

    def check(self, loss, run_cfg) -> None:
        if self.cfg.form not in FORMS:
            raise GanError(f"tricks.lecam.form={self.cfg.form}: choose code (relu, the official code) or paper")
        if self.cfg.weight < 0 or not 0 <= self.cfg.decay < 1:
            raise GanError(f"tricks.lecam: need weight >= 0 and 0 <= decay < 1 (got {self.cfg.weight}, {self.cfg.decay})")

    def setup(self, G, D, loss):
        device = next(D.parameters()).device
        self.ema_real, self.ema_fake = self.ema_real.to(device), self.ema_fake.to(device)
        return G, D

    def averages(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(a_R, a_F), zero-debiased."""
        debias = 1 - self.cfg.decay ** self.updates if self.updates else 1.0
        return self.ema_real / debias, self.ema_fake / debias

    def update(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> None:
        decay = self.cfg.decay
        self.ema_real = decay * self.ema_real + (1 - decay) * d_real.detach().mean()
        self.ema_fake = decay * self.ema_fake + (1 - decay) * d_fake.detach().mean()
        self.updates += 1

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        d_real = ctx.D(ctx.real, ctx.y_real).float()
        d_fake = ctx.D(ctx.fake, ctx.y_fake).float()
        self.update(d_real, d_fake)
        avg_real, avg_fake = self.averages()
        return {"reg": self.cfg.weight * lecam_term(d_real, d_fake, avg_real, avg_fake, self.cfg.form)}

    def log_row(self) -> dict[str, float]:
        avg_real, avg_fake = self.averages()
        return {"avg_real": float(avg_real), "avg_fake": float(avg_fake)}

    def state_dict(self) -> dict:
        return {"ema_real": self.ema_real, "ema_fake": self.ema_fake, "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        device = self.ema_real.device
        self.ema_real, self.ema_fake = state["ema_real"].to(device), state["ema_fake"].to(device)
        self.updates = int(state["updates"])
