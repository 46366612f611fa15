"""Minibatch standard deviation (Karras et al. 2018, ProGAN): the std of each feature over groups
of min(group_size, N) samples, averaged to one value per group and appended as an extra
feature map before D's last block (the layer is `MinibatchStddev` in models/layers.py)."""

from __future__ import annotations

from dataclasses import dataclass

from gan_cli.config_ranges import count, ranged
from gan_cli.errors import GanError
from gan_cli.tricks.base import Trick, register_trick


@dataclass
class MinibatchStddevConfig:
    group_size: int = ranged(4, count(4096))


@register_trick("minibatch_stddev", config=MinibatchStddevConfig, order=50)
class MinibatchStddev(Trick):
    def check(self, loss, run_cfg) -> None:
        group = self.cfg.group_size
        if group < 1:
            raise GanError(f"tricks.minibatch_stddev.group_size={group} must be at least 1")
        # D sees batch_size inputs, or batch_size / m packs under PacGAN
        pack = run_cfg.tricks.pack.m if run_cfg.tricks.get("pack") is not None else 1
        inputs = run_cfg.trainer.batch_size // pack
        if inputs % min(group, inputs):
            raise GanError(f"minibatch_stddev: D sees batches of {inputs}, not divisible by group_size {group}: "
                           "make trainer.batch_size a multiple of the group size")

    def d_options(self) -> dict:
        return {"minibatch_stddev": self.cfg.group_size}
