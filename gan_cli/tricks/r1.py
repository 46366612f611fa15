"""R1 regularisation (Mescheder et al. 2018): a zero-centred gradient penalty on D at real data.

  r1:  (gamma / 2) E ||grad D(x)||^2 on real data
(R2, the same penalty on generated data, is r2.py.) half=false drops the 1/2, matching
GAN_stability's code (its reg_param=10 is gamma=20 in the paper's convention). every=N applies
the penalty on every N-th D update only, scaled by N (lazy regularisation, StyleGAN2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gan_cli.config_ranges import count, non_negative, ranged
from gan_cli.errors import GanError
from gan_cli.losses.penalties import power_penalty
from gan_cli.tricks.base import StepContext, Trick, register_trick


@dataclass
class R1Config:
    # Penalty (gamma/2) E||grad D(x)||^2 (the paper). GAN_stability's code omits the 1/2: set
    # half=false to match it.
    gamma: float = ranged(10.0, non_negative())
    half: bool = True
    every: int = ranged(1, count(10**6))  # lazy regularisation: apply every N D steps (scaled by N)


@register_trick("r1", config=R1Config, order=90)
class R1(Trick):
    gradient_penalty = True
    on_real = True  # the penalised points: real data (R2: generated)

    def __init__(self, cfg, run_cfg):
        super().__init__(cfg, run_cfg)
        self.d_updates = 0

    def check(self, loss, run_cfg) -> None:
        if self.cfg.gamma < 0 or self.cfg.every < 1:
            raise GanError(f"{self.name}: need gamma >= 0 and every >= 1 (got {self.cfg.gamma}, {self.cfg.every})")

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        if self.d_updates % self.cfg.every:
            return {"penalty": ctx.real.new_zeros((), dtype=torch.float32)}
        x, y = (ctx.real, ctx.y_real) if self.on_real else (ctx.fake, ctx.y_fake)
        weight = self.cfg.gamma * (0.5 if self.cfg.half else 1.0) * self.cfg.every
        return {"penalty": weight * power_penalty(ctx.D, x, y, p=2)}

    def after_d_step(self, D, step: int) -> None:
        self.d_updates += 1

    def state_dict(self) -> dict:
        return {"d_updates": self.d_updates}

    def load_state_dict(self, state: dict) -> None:
        self.d_updates = int(state.get("d_updates", 0))
