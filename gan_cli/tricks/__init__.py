"""Stabilisation tricks: one module per trick, all registered by name in `TRICKS`."""

from __future__ import annotations

import importlib
import pkgutil

from gan_cli.errors import GanError
from gan_cli.tricks.base import TRICKS, StepContext, Trick, register_trick

# importing a module registers its trick: a new module needs no line here
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["TRICKS", "StepContext", "Trick", "register_trick", "build_tricks"]


def build_tricks(tricks_cfg, run_cfg) -> list[Trick]:
    """Instantiate every trick whose config node is set (tricks=[a,b] on the command line), in
    their `order`."""
    chosen = []
    for name, node in tricks_cfg.items():
        if node is None:
            continue
        if name not in TRICKS:
            raise GanError(f"trick '{name}' is not implemented yet: choose from {', '.join(sorted(TRICKS))}")
        chosen.append(TRICKS[name](node, run_cfg))
    return sorted(chosen, key=lambda trick: trick.order)
