"""f-GAN (Nowozin et al. 2016): variational estimation of an f-divergence.

D outputs v = V(x); its output activation g_f maps v into the domain of the conjugate f*.
  D maximises  F = E_P[g_f(v_real)] - E_Q[f*(g_f(v_fake))]:   loss -F
  G (default): the paper's practical choice, maximise E_Q[g_f(v_fake)]:   loss -E_Q g_f(v_fake)
  G (loss.fgan_saddle=true): minimise F itself:   loss -E_Q f*(g_f(v_fake))

| divergence  | f(u)                              | g_f(v)                | f*(t)         | f*(g_f(v)) |
| kl          | u log u                           | v                     | exp(t - 1)    | exp(v - 1) |
| rkl         | -log u                            | -exp(-v)              | -1 - log(-t)  | v - 1      |
| pearson     | (u - 1)^2                         | v                     | t^2/4 + t     | v^2/4 + v  |
| hellinger   | (sqrt(u) - 1)^2                   | 1 - exp(-v)           | t / (1 - t)   | exp(v) - 1 |
| js          | -(u+1) log((1+u)/2) + u log u     | log 2 - softplus(-v)  | -log(2 - e^t) | softplus(v) - log 2 |
The last column is f* composed with g_f, simplified so no intermediate overflows or loses
precision (e.g. js: 2 - e^{g(v)} = 2 sigmoid(-v)); the tests check it against the composition.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gan_cli.losses.base import GANLoss, Terms, register_loss

LOG2 = math.log(2.0)


@dataclass(frozen=True)
class Divergence:
    f: Callable[[torch.Tensor], torch.Tensor]  # the generator function (reference only)
    activation: Callable[[torch.Tensor], torch.Tensor]  # g_f
    conjugate: Callable[[torch.Tensor], torch.Tensor]  # f*
    conjugate_of_activation: Callable[[torch.Tensor], torch.Tensor]  # f*(g_f(v)), stable


DIVERGENCES: dict[str, Divergence] = {
    "kl": Divergence(
        f=lambda u: u * torch.log(u),
        activation=lambda v: v,
        conjugate=lambda t: torch.exp(t - 1),
        conjugate_of_activation=lambda v: torch.exp(v - 1),
    ),
    "rkl": Divergence(
        f=lambda u: -torch.log(u),
        activation=lambda v: -torch.exp(-v),
        conjugate=lambda t: -1 - torch.log(-t),
        conjugate_of_activation=lambda v: v - 1,
    ),
    "pearson": Divergence(
        f=lambda u: (u - 1) ** 2,
        activation=lambda v: v,
        conjugate=lambda t: t**2 / 4 + t,
        conjugate_of_activation=lambda v: v**2 / 4 + v,
    ),
    "hellinger": Divergence(
        f=lambda u: (torch.sqrt(u) - 1) ** 2,
        activation=lambda v: 1 - torch.exp(-v),
        conjugate=lambda t: t / (1 - t),
        conjugate_of_activation=lambda v: torch.expm1(v),
    ),
    "js": Divergence(
        f=lambda u: -(u + 1) * torch.log((1 + u) / 2) + u * torch.log(u),
        activation=lambda v: LOG2 - F.softplus(-v),
        conjugate=lambda t: -torch.log(2 - torch.exp(t)),
        conjugate_of_activation=lambda v: F.softplus(v) - LOG2,
    ),
}


@dataclass
class FGANConfig:
    # G minimises the saddle objective -E f*(g_f(V(G(z)))) instead of the paper's practical
    # -E g_f(V(G(z)))
    fgan_saddle: bool = False


@register_loss(*(f"fgan_{name}" for name in DIVERGENCES), config=FGANConfig)
class FGAN(GANLoss):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.divergence = DIVERGENCES[cfg.name.removeprefix("fgan_")]

    def d_loss(self, D, real, fake, y_real=None, y_fake=None) -> Terms:
        v_real, v_fake = D(real, y_real).float(), D(fake, y_fake).float()
        div = self.divergence
        estimate = div.activation(v_real).mean() - div.conjugate_of_activation(v_fake).mean()
        stats = {"d_real": v_real.detach().mean(), "d_fake": v_fake.detach().mean(), "divergence": estimate.detach()}
        return Terms({"adv": -estimate}, stats)

    def g_loss(self, D, fake, y_fake=None, real=None, y_real=None) -> Terms:
        v_fake = D(fake, y_fake).float()
        if self.cfg.fgan_saddle:
            loss = -self.divergence.conjugate_of_activation(v_fake).mean()
        else:
            loss = -self.divergence.activation(v_fake).mean()
        return Terms({"adv": loss}, {"d_fake_g": v_fake.detach().mean()})
