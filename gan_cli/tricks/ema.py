"""Exponential moving average of the generator's weights (used for sampling and evaluation).

ema <- decay * ema + (1 - decay) * theta after every generator update, as one fused foreach op;
buffers (batch-norm statistics) are copied. Before `start_step` the average tracks G exactly.
"""

from __future__ import annotations

import copy

import torch

from gan_cli.errors import GanError
from gan_cli.tricks.base import Trick, register_trick


@register_trick("ema")
class EMA(Trick):
    def check(self, loss, run_cfg) -> None:
        if not 0.0 <= self.cfg.decay <= 1.0:
            raise GanError(f"tricks.ema.decay={self.cfg.decay} must be in [0, 1] (e.g. 0.999)")

    def setup(self, G, D, loss):
        self.model = copy.deepcopy(G).eval().requires_grad_(False)
        self._src = [p for p in G.parameters()]
        self._dst = [p for p in self.model.parameters()]
        self._src_buffers = [b for b in G.buffers()]
        self._dst_buffers = [b for b in self.model.buffers()]
        return G, D

    @torch.no_grad()
    def after_g_step(self, G, step: int) -> None:
        weight = 1.0 - self.cfg.decay if step >= self.cfg.start_step else 1.0
        torch._foreach_lerp_(self._dst, self._src, weight)
        if self._dst_buffers:
            torch._foreach_copy_(self._dst_buffers, self._src_buffers)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
