"""Hinge loss (Lim & Ye 2017, used by SNGAN and BigGAN):

  D:  E relu(1 - l_real) + E relu(1 + l_fake)
  G:  -E l_fake
"""

from __future__ import annotations

import torch.nn.functional as F

from gan_cli.losses.base import GANLoss, Terms, register_loss


@register_loss("hinge")
class Hinge(GANLoss):
    def d_loss(self, D, real, fake, y_real=None, y_fake=None) -> Terms:
        l_real, l_fake = D(real, y_real), D(fake, y_fake)
        loss = F.relu(1 - l_real).mean() + F.relu(1 + l_fake).mean()
        return Terms({"adv": loss}, {"d_real": l_real.detach().mean(), "d_fake": l_fake.detach().mean()})

    def g_loss(self, D, fake, y_fake=None, real=None, y_real=None) -> Terms:
        l_fake = D(fake, y_fake)
        return Terms({"adv": -l_fake.mean()}, {"d_fake_g": l_fake.detach().mean()})
