"""The loss interface and its registry.

A loss owns the discriminator calls it needs: `d_loss` and `g_loss` return a `Terms` whose
`losses` are summed and backpropagated by the trainer and whose `stats` (mean D outputs) are
only logged. Penalties that belong to a loss (gradient penalties) are computed inside it.

A loss declares its config keys beside its class, `@register_loss("wgan_gp", config=WGANGPConfig)`:
a dataclass of `loss.*` keys with their defaults and ranges (gan_cli/config_components.py
gathers them into the `loss` schema). A new loss is its module here plus conf/loss/<name>.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from gan_cli.errors import GanError

LOSSES: dict[str, type[GANLoss]] = {}


def register_loss(*names: str, config: type | None = None):
    """Register a loss class under each name, with the dataclass of its `loss.*` keys (None: it
    has none beyond `name`)."""

    def wrap(cls):
        cls.config = config
        for name in names:
            LOSSES[name] = cls
        return cls

    return wrap


@dataclass
class Terms:
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    stats: dict[str, torch.Tensor] = field(default_factory=dict)

    def total(self) -> torch.Tensor:
        # not sum(): its `0 + first` is one more op forward and backward in every step
        first, *rest = self.losses.values()
        for value in rest:
            first = first + value
        return first


class GANLoss:
    """Base class. Subclasses implement `d_loss` and `g_loss`."""

    name = "base"
    config: type | None = None  # the dataclass of its `loss.*` keys (register_loss sets it)
    # The critic sees a per-sample gradient penalty: batch norm in D would couple samples.
    gradient_penalty = False
    # Targets of a binary cross-entropy: one-sided label smoothing can change `real_target`.
    supports_label_smoothing = False
    # Weight clipping (WGAN): spectral norm on D would fight it.
    clips_weights = False

    def __init__(self, cfg):
        self.cfg = cfg
        self.real_target = 1.0
        self.fake_target = 0.0

    def d_loss(self, D: nn.Module, real, fake, y_real=None, y_fake=None) -> Terms:
        raise NotImplementedError

    def g_loss(self, D: nn.Module, fake, y_fake=None, real=None, y_real=None) -> Terms:
        raise NotImplementedError

    def after_d_step(self, D: nn.Module) -> None:
        """Called after every discriminator update (WGAN clips weights here)."""

    def d_steps(self, step: int, default: int) -> int:
        """Discriminator updates before generator update number `step` (from 0): `default`
        (trainer.d_steps) unless the loss has a schedule of its own (WGAN's critic warm-up)."""
        return default

    @property
    def fixed_d_steps(self) -> bool:
        """True when `d_steps` is `default` at every step: then, at one D step, the D step's fake
        batch can serve the G step too."""
        return True


def build_loss(cfg) -> GANLoss:
    if cfg.name not in LOSSES:
        raise GanError(f"unknown loss '{cfg.name}': choose one of {', '.join(sorted(LOSSES))}")
    return LOSSES[cfg.name](cfg)
