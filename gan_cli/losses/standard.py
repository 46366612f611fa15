"""The original GAN objective in its two generator forms (Goodfellow et al. 2014).

With logits l = D(x) and softplus(t) = log(1 + e^t):
  D:            softplus(-l_real) + softplus(l_fake)       (= BCE with targets 1 / 0)
  G minimax:    E log(1 - sigmoid(l_fake)) = -softplus(l_fake)   (saturates when D wins)
  G ns:         softplus(-l_fake)                          (non-saturating)
"""

from __future__ import annotations

import torch.nn.functional as F

from gan_cli.losses.base import GANLoss, Terms, register_loss


def bce_with_logits(logits, target: float):
    """Mean BCE against a constant target; target 1 gives softplus(-l), target 0 softplus(l)."""
    return F.binary_cross_entropy_with_logits(logits, logits.new_full(logits.shape, target))


@register_loss("ns", "minimax")
class StandardGAN(GANLoss):
    supports_label_smoothing = True

    def d_loss(self, D, real, fake, y_real=None, y_fake=None) -> Terms:
        l_real, l_fake = D(real, y_real), D(fake, y_fake)
        loss = bce_with_logits(l_real, self.real_target) + bce_with_logits(l_fake, self.fake_target)
        return Terms({"adv": loss}, {"d_real": l_real.detach().mean(), "d_fake": l_fake.detach().mean()})

    def g_loss(self, D, fake, y_fake=None, real=None, y_real=None) -> Terms:
        l_fake = D(fake, y_fake)
        if self.cfg.name == "minimax":
            loss = -F.softplus(l_fake).mean()
        else:
            loss = F.softplus(-l_fake).mean()
        return Terms({"adv": loss}, {"d_fake_g": l_fake.detach().mean()})
