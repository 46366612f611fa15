"""Feature matching (Salimans et al. 2016): G matches the mean of D's last hidden features
(`D.features`) on real data instead of (or besides) fooling D.

  squared (the paper):     || E f(x) - E f(G(z)) ||_2^2
  l1 (official CIFAR code): mean_k | E f(x)_k - E f(G(z))_k |
(the official MNIST code takes the mean of the squares: the squared form / A, set `weight` to
1/A to match it). The loss's own generator term is kept with weight `adversarial` (0: replaced,
as in the paper).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gan_cli.config_ranges import non_negative, ranged
from gan_cli.errors import GanError
from gan_cli.losses.penalties import bare
from gan_cli.tricks.base import StepContext, Trick, register_trick

DISTANCES = ("squared", "l1")


def feature_distance(real_features: torch.Tensor, fake_features: torch.Tensor, distance: str) -> torch.Tensor:
    diff = real_features.float().mean(0) - fake_features.float().mean(0)
    return diff.pow(2).sum() if distance == "squared" else diff.abs().mean()


@dataclass
class FeatureMatchingConfig:
    # squared: ||E f(x) - E f(G(z))||^2 (the paper / MNIST code); l1: the CIFAR code
    distance: str = "squared"
    # weight of the feature-matching term; the plain generator loss keeps weight `adversarial`
    weight: float = ranged(1.0, non_negative())
    adversarial: float = ranged(0.0, non_negative())


@register_trick("feature_matching", config=FeatureMatchingConfig, order=40)
class FeatureMatching(Trick):
    def check(self, loss, run_cfg) -> None:
        if self.cfg.distance not in DISTANCES:
            raise GanError(f"feature_matching.distance={self.cfg.distance}: choose {' or '.join(DISTANCES)}")
        if self.cfg.weight < 0 or self.cfg.adversarial < 0:
            raise GanError("feature_matching.weight and .adversarial must be >= 0")
        if self.cfg.weight == 0 and self.cfg.adversarial == 0:
            raise GanError("feature_matching.weight=0 and adversarial=0 leave G without a loss: set one of them > 0")

    def g_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        D = bare(ctx.D)
        with torch.no_grad():
            real = D.features(ctx.real)
        return {"loss": self.cfg.weight * feature_distance(real, D.features(ctx.fake), self.cfg.distance)}

    def g_adversarial_weight(self) -> float:
        return self.cfg.adversarial
