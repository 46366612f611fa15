"""The trick interface and its registry.

A trick may change how the networks are built (`d_options`), wrap or modify them after they are
built (`setup`), add loss terms to either player (`d_terms`, `g_terms`), act after each update
(`after_d_step`, `after_g_step`), and carries its own state for exact resume.

A trick declares its config keys beside its class, `@register_trick("r1", config=R1Config,
order=90)`: a dataclass of `tricks.<name>.*` keys with their defaults and ranges
(gan_cli/config_components.py gathers them into the `tricks` schema). A new trick is its module
here plus conf/tricks/<name>.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gan_cli.errors import GanError

TRICKS: dict[str, type[Trick]] = {}


def register_trick(name: str, config: type, order: int = 1000):
    """Register a trick class under `name`, with the dataclass of its keys and its `order`."""

    def wrap(cls):
        cls.name, cls.config, cls.order = name, config, order
        TRICKS[name] = cls
        return cls

    return wrap


@dataclass
class StepContext:
    """What a trick may look at while the trainer computes one player's loss."""

    G: nn.Module
    D: nn.Module
    real: torch.Tensor
    fake: torch.Tensor
    y_real: torch.Tensor | None
    y_fake: torch.Tensor | None
    step: int


class Trick:
    name = "trick"
    config: type  # the dataclass of its `tricks.<name>.*` keys (register_trick sets it)
    # Where it runs among the chosen tricks (setup, loss terms, after-step hooks, lowest first) and
    # where its node sits in the `tricks` config. Tricks that change the networks' parameters
    # (spectral norm, 0) set up first, so that tricks copying or tracking parameters (ema,
    # historical averaging) see the final ones; the others keep the order they were added in
    # (10, 20, ...), which fixes the order their loss terms are summed in: a run repeats bit for bit.
    order = 1000
    # Penalises D's per-sample input gradients (r1, r2): batch norm in D is refused, as for
    # gradient-penalty losses, and d_norm=auto picks layer norm.
    gradient_penalty = False
    # Augmenting tricks (diffaugment, ada): "d_inputs" when `augment` is applied to every image
    # D sees (reals and fakes, in both phases: the trainer wraps D, gan_cli/augment); "reals"
    # when it is applied to the real batch alone (the papers' negative control). None: none.
    augments: str | None = None
    # Works on images only (augmentations): refused on 2-D point data in one line.
    images_only = False
    # The one arch whose networks the trick regularises (path_length: stylegan2), or None for any.
    arch: str | None = None

    def __init__(self, cfg, run_cfg):
        self.cfg = cfg  # this trick's own config node
        self.run_cfg = run_cfg  # the whole run config, for compatibility checks

    def check(self, loss, run_cfg) -> None:
        """Raise GanError for combinations that cannot work."""

    def check_data(self, spec) -> None:
        """Raise GanError when the data cannot take this trick (e.g. an RGB-only augmentation on
        grey images); `spec` is the run's DataSpec."""
        if self.images_only and spec.kind != "image":
            raise GanError(f"tricks=[{self.name}] augments images, and {spec.name} is 2-D points: use an image dataset")

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """The differentiable augmentation of a batch of images (see `augments`)."""
        return x

    def log_row(self) -> dict[str, float]:
        """Values added to each metrics.jsonl row (read at log steps only: they may sync the device)."""
        return {}

    def d_options(self) -> dict[str, Any]:
        """Build-time options for the discriminator builder."""
        return {}

    def setup(self, G: nn.Module, D: nn.Module, loss) -> tuple[nn.Module, nn.Module]:
        return G, D

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        return {}

    def g_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        return {}

    def g_adversarial_weight(self) -> float:
        """Scale of the loss's own generator term (feature matching may replace it)."""
        return 1.0

    def after_d_step(self, D: nn.Module, step: int) -> None:
        pass

    def after_g_step(self, G: nn.Module, step: int) -> None:
        pass

    def eval_generator(self) -> nn.Module | None:
        """The generator to sample and score with instead of G (EMA's average), or None."""
        return None

    def prepare_eval(self, latent) -> None:
        """Before sample grids and evaluations (EMA recomputes its batch-norm statistics);
        latent(n, torch.Generator) -> (z, y) draws generator inputs."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
