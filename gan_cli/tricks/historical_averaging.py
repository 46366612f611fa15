"""Historical averaging (Salimans et al. 2016): each chosen player's cost gets
weight * ||theta - (1/t) sum_i theta[i]||^2, the distance of its parameters to their running
mean over training.

The mean starts at the initial parameters and takes in the parameters after every update of that
player, so after t updates it averages theta_0 .. theta_t (the current parameters included).
It is a constant in the penalty's gradient. The weight is a config value: no source gives one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gan_cli.config_ranges import non_negative, ranged
from gan_cli.errors import GanError
from gan_cli.tricks.base import StepContext, Trick, register_trick

NETWORKS = ("d", "g", "both")


class ParameterMean:
    """Running mean of a module's parameters, updated with fused foreach ops."""

    def __init__(self, module: nn.Module):
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.mean = [p.detach().clone() for p in self.params]
        self.count = 1

    @torch.no_grad()
    def update(self) -> None:
        self.count += 1
        torch._foreach_lerp_(self.mean, [p.detach() for p in self.params], 1.0 / self.count)

    def distance(self) -> torch.Tensor:
        """||theta - mean||^2 over all parameters, differentiable in theta."""
        diffs = torch._foreach_sub(self.params, self.mean)
        return torch.stack(torch._foreach_norm(diffs)).pow(2).sum()

    def state_dict(self) -> dict:
        return {"mean": [m.clone() for m in self.mean], "count": self.count}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        torch._foreach_copy_(self.mean, [m.to(p.device) for m, p in zip(state["mean"], self.mean)])
        self.count = int(state["count"])


@dataclass
class HistoricalAveragingConfig:
    weight: float = ranged(1e-3, non_negative())
    networks: str = "both"  # d | g | both


@register_trick("historical_averaging", config=HistoricalAveragingConfig, order=20)
class HistoricalAveraging(Trick):
    def check(self, loss, run_cfg) -> None:
        if self.cfg.networks not in NETWORKS:
            raise GanError(f"historical_averaging.networks={self.cfg.networks}: choose d, g or both")
        if self.cfg.weight < 0:
            raise GanError(f"historical_averaging.weight={self.cfg.weight} must be >= 0")

    def setup(self, G, D, loss):
        on = self.cfg.networks
        self.means = {}
        if on in ("d", "both"):
            self.means["d"] = ParameterMean(D)
        if on in ("g", "both"):
            self.means["g"] = ParameterMean(G)
        return G, D

    def _term(self, player: str) -> dict[str, torch.Tensor]:
        if player not in self.means:
            return {}
        return {"penalty": self.cfg.weight * self.means[player].distance()}

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        return self._term("d")

    def g_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        return self._term("g")

    def after_d_step(self, D, step: int) -> None:
        if "d" in self.means:
            self.means["d"].update()

    def after_g_step(self, G, step: int) -> None:
        if "g" in self.means:
            self.means["g"].update()

    def state_dict(self) -> dict:
        return {player: mean.state_dict() for player, mean in self.means.items()}

    def load_state_dict(self, state: dict) -> None:
        for player, mean in self.means.items():
            mean.load_state_dict(state[player])
