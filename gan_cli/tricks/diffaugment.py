"""DiffAugment (Zhao et al. 2020) as a trick: the policy's augmentations on every image D sees.

apply_to=all (the method): reals and fakes in the D step and fakes in the G step, so G is
trained through the augmentation. apply_to=reals augments only the real batch, the papers'
negative control: D then learns that augmented images are real and G imitates the augmentations.
Operations and strengths: gan_cli/augment/diffaugment.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gan_cli.augment.diffaugment import DiffAugment, parse_policy
from gan_cli.errors import GanError
from gan_cli.tricks.base import Trick, register_trick

APPLY_TO = {"all": "d_inputs", "reals": "reals"}


def check_apply_to(name: str, value: str) -> str:
    if value not in APPLY_TO:
        raise GanError(f"tricks.{name}.apply_to={value}: choose all (the method) or reals (the negative control)")
    return APPLY_TO[value]


@dataclass
class DiffAugmentConfig:
    # comma-separated, applied in order: color | translation | cutout (Zhao et al. 2020)
    policy: str = "color,translation,cutout"
    # all: every image D sees (the method) | reals: the real batch only (the negative control)
    apply_to: str = "all"


@register_trick("diffaugment", config=DiffAugmentConfig, order=110)
class DiffAugmentTrick(Trick):
    images_only = True

    def __init__(self, cfg, run_cfg):
        super().__init__(cfg, run_cfg)
        self.augments = check_apply_to(self.name, cfg.apply_to)
        parse_policy(cfg.policy)
        self.pipeline: DiffAugment | None = None

    def check_data(self, spec) -> None:
        super().check_data(spec)
        self.pipeline = DiffAugment(self.cfg.policy, spec.channels)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        return self.pipeline(x)
