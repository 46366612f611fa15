"""Wasserstein critics: weight clipping (Arjovsky et al. 2017), gradient penalty (Gulrajani et
al. 2017) and the Wasserstein divergence (Wu et al. 2018).

With critic values l = D(x) (higher for real):
  critic:     E l_fake - E l_real  [+ penalty]   [+ drift * E l_real^2, ProGAN's optional term]
  generator:  -E l_fake
  wgan:       every critic weight clipped to [-clip, clip] after each critic update
  wgan_gp:    + gp_weight * E (||grad D(x_hat)||_2 - gp_center)^2, x_hat = e x + (1 - e) x_fake
  wgan_div:   + (div_k / 2) (E ||grad D(x_real)||^div_p + E ||grad D(x_fake)||^div_p)
The divergence penalty is the common real + fake form (e.g. PyTorch-GAN); the paper tried six
ways of sampling the penalised points with similar results.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gan_cli.config_ranges import non_negative, positive, ranged
from gan_cli.losses import penalties
from gan_cli.losses.base import GANLoss, Terms, register_loss


@dataclass
class WassersteinConfig:
    """Keys of the whole wgan family."""

    # ProGAN's drift term eps * E[D(x)^2]
    drift: float = ranged(0.0, non_negative())


@dataclass
class WGANConfig(WassersteinConfig):
    # weight clipping range [-clip, clip] after every critic step
    clip: float = ranged(0.01, positive())
    # the official code's schedule of 100 critic steps for the first 25 G steps and every 500th G step
    critic_warmup: bool = False


@dataclass
class WGANGPConfig(WassersteinConfig):
    # penalty weight and target norm (dragan declares the same two keys)
    gp_weight: float = ranged(10.0, non_negative())
    gp_center: float = ranged(1.0, non_negative())


@dataclass
class WGANDivConfig(WassersteinConfig):
    # (k/2) (E ||grad D(x_real)||^p + E ||grad D(x_fake)||^p)
    div_k: float = ranged(2.0, non_negative())
    div_p: float = ranged(6.0, positive())


@register_loss("wgan", config=WGANConfig)
class WGAN(GANLoss):
    clips_weights = True

    def d_loss(self, D, real, fake, y_real=None, y_fake=None) -> Terms:
        l_real, l_fake = D(real, y_real), D(fake, y_fake)
        losses = {"adv": l_fake.mean() - l_real.mean()}
        if self.cfg.drift:
            losses["drift"] = self.cfg.drift * l_real.float().pow(2).mean()
        losses.update(self.penalty(D, real, fake, y_real, y_fake))
        stats = {"d_real": l_real.detach().mean(), "d_fake": l_fake.detach().mean(),
                 "wasserstein": (l_real.detach().mean() - l_fake.detach().mean())}
        return Terms(losses, stats)

    def penalty(self, D, real, fake, y_real, y_fake) -> dict[str, torch.Tensor]:
        return {}

    def g_loss(self, D, fake, y_fake=None, real=None, y_real=None) -> Terms:
        l_fake = D(fake, y_fake)
        return Terms({"adv": -l_fake.mean()}, {"d_fake_g": l_fake.detach().mean()})

    @torch.no_grad()
    def after_d_step(self, D) -> None:
        if self.clips_weights:
            params = list(D.parameters())
            torch._foreach_clamp_min_(params, -self.cfg.clip)
            torch._foreach_clamp_max_(params, self.cfg.clip)

    def d_steps(self, step: int, default: int) -> int:
        if self.cfg.critic_warmup and (step < 25 or step % 500 == 0):
            return 100  # the official WGAN schedule
        return default

    @property
    def fixed_d_steps(self) -> bool:
        return not self.cfg.critic_warmup


@register_loss("wgan_gp", config=WGANGPConfig)
class WGANGP(WGAN):
    clips_weights = False
    gradient_penalty = True

    def penalty(self, D, real, fake, y_real, y_fake) -> dict[str, torch.Tensor]:
        x_hat = penalties.interpolate(real, fake, penalties.pack_factor(D))
        # the interpolates carry the real labels (conditional critics)
        gp = penalties.norm_penalty(D, x_hat, y_real, self.cfg.gp_center)
        return {"gp": self.cfg.gp_weight * gp}


@register_loss("wgan_div", config=WGANDivConfig)
class WGANDiv(WGAN):
    clips_weights = False
    gradient_penalty = True

    def penalty(self, D, real, fake, y_real, y_fake) -> dict[str, torch.Tensor]:
        p = self.cfg.div_p
        div = penalties.power_penalty(D, real, y_real, p) + penalties.power_penalty(D, fake, y_fake, p)
        return {"div": self.cfg.div_k / 2 * div}
