"""DRAGAN (Kodali et al. 2017): the non-saturating GAN plus a gradient penalty around the data.

  D:  softplus(-l_real) + softplus(l_fake) + gp_weight * E (||grad D(x_hat)||_2 - gp_center)^2
      x_hat = x + a (x_p - x),  x_p = x + dragan_scale * std(x) * U[0, 1),  a ~ U[0, 1] per input
  G:  softplus(-l_fake)
"""

from __future__ import annotations

from dataclasses import dataclass

from gan_cli.config_ranges import non_negative, positive, ranged
from gan_cli.losses import penalties
from gan_cli.losses.base import Terms, register_loss
from gan_cli.losses.standard import StandardGAN


@dataclass
class DRAGANConfig:
    # penalty weight and target norm (the same keys as wgan_gp's)
    gp_weight: float = ranged(10.0, non_negative())
    gp_center: float = ranged(1.0, non_negative())
    # perturbed points x + dragan_scale * std(x) * U[0, 1)
    dragan_scale: float = ranged(0.5, positive())


@register_loss("dragan", config=DRAGANConfig)
class DRAGAN(StandardGAN):
    gradient_penalty = True

    def d_loss(self, D, real, fake, y_real=None, y_fake=None) -> Terms:
        terms = super().d_loss(D, real, fake, y_real, y_fake)
        x_hat = penalties.dragan_points(real, self.cfg.dragan_scale, penalties.pack_factor(D))
        terms.losses["gp"] = self.cfg.gp_weight * penalties.norm_penalty(D, x_hat, y_real, self.cfg.gp_center)
        return terms
