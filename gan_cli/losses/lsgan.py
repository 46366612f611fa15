"""Least-squares GAN (Mao et al. 2017), D output linear:

  D:  1/2 E (D(x) - b)^2 + 1/2 E (D(G(z)) - a)^2
  G:  1/2 E (D(G(z)) - c)^2
Defaults a = 0, b = 1, c = 1 (the 0-1 coding of the paper's experiments); a = -1, b = 1, c = 0
makes the objective the Pearson chi^2 divergence of the paper's theory (loss.lsgan_a=-1
loss.lsgan_c=0).
"""

from __future__ import annotations

from dataclasses import dataclass

from gan_cli.config_ranges import ANY, ranged
from gan_cli.losses.base import GANLoss, Terms, register_loss


@dataclass
class LSGANConfig:
    # targets: fake a, real b, generator c
    lsgan_a: float = ranged(0.0, ANY)
    lsgan_b: float = ranged(1.0, ANY)
    lsgan_c: float = ranged(1.0, ANY)


@register_loss("lsgan", config=LSGANConfig)
class LSGAN(GANLoss):
    def d_loss(self, D, real, fake, y_real=None, y_fake=None) -> Terms:
        l_real, l_fake = D(real, y_real), D(fake, y_fake)
        loss = 0.5 * (l_real - self.cfg.lsgan_b).pow(2).mean() + 0.5 * (l_fake - self.cfg.lsgan_a).pow(2).mean()
        return Terms({"adv": loss}, {"d_real": l_real.detach().mean(), "d_fake": l_fake.detach().mean()})

    def g_loss(self, D, fake, y_fake=None, real=None, y_real=None) -> Terms:
        l_fake = D(fake, y_fake)
        loss = 0.5 * (l_fake - self.cfg.lsgan_c).pow(2).mean()
        return Terms({"adv": loss}, {"d_fake_g": l_fake.detach().mean()})
