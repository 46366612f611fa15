"""Orthogonal regularisation of G (Brock et al. 2019, BigGAN section 3.1), arch=biggan.

  penalty = (strength / 2) * sum over G's weight matrices W of ||W W^T * (1 - I)||_F^2
(conv weights as out x (in k k) matrices; biases, gains and the shared class embedding excluded),
whose gradient 2 * strength * ((W W^T) * (1 - I)) W is what the official code adds to G's
gradients. Only the off-diagonal products are penalised: W's rows are pushed towards
orthogonality without constraining their norms. Spectrally normalised layers are regularised
on their raw weights, as in the official code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gan_cli.config_ranges import non_negative, ranged
from gan_cli.errors import GanError
from gan_cli.tricks.base import StepContext, Trick, register_trick


def orthogonal_penalty(weights: list[torch.Tensor]) -> torch.Tensor:
    total = weights[0].new_zeros(())
    for w in weights:
        m = w.reshape(w.shape[0], -1)
        gram = m @ m.t()
        total = total + (gram * (1 - torch.eye(len(gram), device=gram.device, dtype=gram.dtype))).square().sum()
    return total / 2


@dataclass
class OrthogonalConfig:
    strength: float = ranged(1e-4, non_negative())


@register_trick("orthogonal", config=OrthogonalConfig, order=160)
class Orthogonal(Trick):
    arch = "biggan"

    def check(self, loss, run_cfg) -> None:
        if run_cfg.arch.name != self.arch:
            raise GanError(f"tricks=[orthogonal] is BigGAN's regulariser of G, not arch={run_cfg.arch.name}'s: "
                           "use arch=biggan or drop orthogonal")
        if self.cfg.strength < 0:
            raise GanError(f"tricks.orthogonal.strength={self.cfg.strength} must be >= 0 (BigGAN: 1e-4)")

    def setup(self, G, D, loss):
        shared = {id(p) for p in G.shared.parameters()} if getattr(G, "shared", None) is not None else set()
        self.weights = [p for p in G.parameters() if p.dim() >= 2 and id(p) not in shared]
        return G, D

    def g_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        return {"penalty": self.cfg.strength * orthogonal_penalty(self.weights)}
