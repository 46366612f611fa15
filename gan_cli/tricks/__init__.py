"""Stabilisation tricks: one module per trick, all registered by name in `TRICKS`."""

from __future__ import annotations

from gan_cli.errors import GanError

# importing a module registers its trick
from gan_cli.tricks import (  # noqa: F401
    ada,
    consistency,
    diffaugment,
    ema,
    feature_matching,
    historical_averaging,
    label_smoothing,
    lecam,
    minibatch_discrimination,
    minibatch_stddev,
    orthogonal,
    pack,
    path_length,
    r1,
    spectral_norm,
)
from gan_cli.tricks.base import TRICKS, StepContext, Trick, register_trick

__all__ = ["TRICKS", "StepContext", "Trick", "register_trick", "build_tricks"]


def build_tricks(tricks_cfg, run_cfg) -> list[Trick]:
    """Instantiate every trick whose config node is set (tricks=[a,b] on the command line), in
    the order their setups must run."""
    chosen = []
    for name, node in tricks_cfg.items():
        if node is None:
            continue
        if name not in TRICKS:
            raise GanError(f"trick '{name}' is not implemented yet: choose from {', '.join(sorted(TRICKS))}")
        chosen.append(TRICKS[name](node, run_cfg))
    return sorted(chosen, key=lambda trick: trick.setup_order)
