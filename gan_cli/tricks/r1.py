"""R1 and R2 regularisation (Mescheder et al. 2018): zero-centred gradient penalties on D.

  r1:  (gamma / 2) E ||grad D(x)||^2 on real data
  r2:  (gamma / 2) E ||grad D(G(z))||^2 on generated data
half=false drops the 1/2, matching GAN_stability's code (its reg_param=10 is gamma=20 in the
paper's convention). every=N applies the penalty on every N-th D update only, scaled by N
(lazy regularisation, StyleGAN2).
"""

from __future__ import annotations

import torch

from gan_cli.errors import GanError
from gan_cli.losses.penalties import power_penalty
from gan_cli.tricks.base import StepContext, Trick, register_trick


@register_trick("r1")
class R1(Trick):
    gradient_penalty = True
    on_real = True

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


@register_trick("r2")
class R2(R1):
    on_real = False
