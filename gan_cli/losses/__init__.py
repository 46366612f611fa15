"""GAN losses: one small module per family, all registered by name in `LOSSES`."""

# importing a module registers its losses
from gan_cli.losses import dragan, fgan, hinge, lsgan, relativistic, standard, wasserstein  # noqa: F401
from gan_cli.losses.base import LOSSES, GANLoss, Terms, build_loss, register_loss

__all__ = ["LOSSES", "GANLoss", "Terms", "build_loss", "register_loss"]
