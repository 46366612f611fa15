"""GAN losses: one small module per family, all registered by name in `LOSSES`."""

from gan_cli.losses import standard  # noqa: F401  (registers its losses)
from gan_cli.losses.base import LOSSES, GANLoss, Terms, build_loss, register_loss

__all__ = ["LOSSES", "GANLoss", "Terms", "build_loss", "register_loss"]
