"""Minibatch discrimination (Salimans et al. 2016): D sees, for each sample, how close it is to
the other samples of its batch, so a generator that collapses is easy to spot.

The layer (models/layers.py, `MinibatchDiscrimination`) sits after D's last hidden layer:
M_i = f(x_i) T with T in R^{A x B x C}; o(x_i)_b = sum_{j != i} exp(-||M_i,b - M_j,b||_1) is
concatenated to f(x_i). B = num_kernels (100) and C = kernel_dim (5) as in the official code;
real and fake batches are compared within themselves because D is called on each separately.
"""

from __future__ import annotations

from dataclasses import dataclass

from gan_cli.config_ranges import count, ranged
from gan_cli.errors import GanError
from gan_cli.tricks.base import Trick, register_trick


@dataclass
class MinibatchDiscriminationConfig:
    num_kernels: int = ranged(100, count(4096))  # B
    kernel_dim: int = ranged(5, count(1024))  # C


@register_trick("minibatch_discrimination", config=MinibatchDiscriminationConfig, order=10)
class MinibatchDiscrimination(Trick):
    def check(self, loss, run_cfg) -> None:
        if self.cfg.num_kernels < 1 or self.cfg.kernel_dim < 1:
            raise GanError("minibatch_discrimination needs num_kernels >= 1 and kernel_dim >= 1: "
                           "set tricks.minibatch_discrimination.num_kernels / kernel_dim")

    def d_options(self) -> dict:
        return {"minibatch_discrimination": (self.cfg.num_kernels, self.cfg.kernel_dim)}
