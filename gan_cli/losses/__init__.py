"""GAN losses: one small module per family, all registered by name in `LOSSES`."""

import importlib
import pkgutil

from gan_cli.losses.base import LOSSES, GANLoss, Terms, build_loss, register_loss

# importing a module registers its losses: a new module needs no line here
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["LOSSES", "GANLoss", "Terms", "build_loss", "register_loss"]
