"""Relativistic average GAN (Jolicoeur-Martineau 2018), with C = D's logits:

  D:  BCE(C_real - E C_fake, 1) + BCE(C_fake - E C_real, 0)
  G:  BCE(C_real - E C_fake, 0) + BCE(C_fake - E C_real, 1)
The official code halves each sum (loss.ragan_half=true); the paper's equations do not (default).
With Adam the factor changes little, but it halves the loss's weight against added penalties.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gan_cli.losses.base import GANLoss, Terms, register_loss
from gan_cli.losses.standard import bce_with_logits


@dataclass
class RaGANConfig:
    # halve each loss as the official code does (the paper's equations do not)
    ragan_half: bool = False


@register_loss("ragan", config=RaGANConfig)
class RaGAN(GANLoss):
    supports_label_smoothing = True

    def _scale(self) -> float:
        return 0.5 if self.cfg.ragan_half else 1.0

    def d_loss(self, D, real, fake, y_real=None, y_fake=None) -> Terms:
        l_real, l_fake = D(real, y_real), D(fake, y_fake)
        loss = bce_with_logits(l_real - l_fake.mean(), self.real_target) + bce_with_logits(
            l_fake - l_real.mean(), self.fake_target
        )
        return Terms({"adv": self._scale() * loss}, {"d_real": l_real.detach().mean(), "d_fake": l_fake.detach().mean()})

    def g_loss(self, D, fake, y_fake=None, real=None, y_real=None) -> Terms:
        # G's gradient reaches the real term only through E C_fake: D(real) needs no graph.
        with torch.no_grad():
            l_real = D(real, y_real)
        l_fake = D(fake, y_fake)
        loss = bce_with_logits(l_real - l_fake.mean(), 0.0) + bce_with_logits(l_fake - l_real.mean(), 1.0)
        return Terms({"adv": self._scale() * loss}, {"d_fake_g": l_fake.detach().mean()})
