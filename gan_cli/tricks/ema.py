"""Exponential moving average of the generator's weights (used for sampling and evaluation).

ema <- decay_t * ema + (1 - decay_t) * theta after every generator update, as one fused foreach
op; before `start_step` the average tracks G exactly. With `warmup`, decay_t = min(decay,
(1 + t) / (10 + t)), so the first steps do not keep the random initial weights for thousands of
steps.

Batch-norm statistics are buffers, not weights: they are copied from G after every step, and G's
running statistics belong to G's weights, not to the average. With `bn_batches` > 0 the EMA
generator's statistics are recomputed from its own samples (a plain mean over that many batches,
momentum=None) before each sample grid and evaluation: `prepare_eval`. That uses its own seeded
noise and is overwritten by the next step's copy, so training and resume are unaffected.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from gan_cli.config_ranges import FRACTION, non_negative, ranged
from gan_cli.errors import GanError
from gan_cli.tricks.base import Trick, register_trick

BN_SEED = 5_000_011
BN_BATCH = 500


def ema_decay(decay: float, step: int, warmup: bool) -> float:
    """The decay used for the average after update number `step` (counted from 1)."""
    return min(decay, (1.0 + step) / (10.0 + step)) if warmup else decay


@torch.no_grad()
def recompute_bn_statistics(model: nn.Module, inputs) -> None:
    """Running mean/var of every batch-norm layer as the plain average over `inputs` (each a tuple
    of the model's arguments) in train mode; the model is left in eval mode. (torch's
    swa_utils.update_bn does the same for models of one tensor argument.)"""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average instead of an exponential one
    model.train()
    try:
        for args in inputs:
            model(*args)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.eval()


@dataclass
class EMAConfig:
    decay: float = ranged(0.999, FRACTION)
    start_step: int = ranged(0, non_negative(10**9))
    # decay_t = min(decay, (1 + t) / (10 + t)) at step t: early on the average forgets the random
    # initial weights quickly (TensorFlow's ExponentialMovingAverage num_updates)
    warmup: bool = False
    # recompute the EMA generator's batch-norm statistics from this many batches of its own
    # samples before every sample grid and evaluation (0: copy G's, which belong to other weights)
    bn_batches: int = ranged(0, non_negative(10**4))


@register_trick("ema", config=EMAConfig, order=70)
class EMA(Trick):
    def check(self, loss, run_cfg) -> None:
        if not 0.0 <= self.cfg.decay <= 1.0:
            raise GanError(f"tricks.ema.decay={self.cfg.decay} must be in [0, 1] (e.g. 0.999)")
        if self.cfg.get("bn_batches", 0) < 0:
            raise GanError(f"tricks.ema.bn_batches={self.cfg.bn_batches} must be 0 (off) or a number of batches")

    def setup(self, G, D, loss):
        self.model = copy.deepcopy(G).eval().requires_grad_(False)
        self._src = [p for p in G.parameters()]
        self._dst = [p for p in self.model.parameters()]
        self._src_buffers = [b for b in G.buffers()]
        self._dst_buffers = [b for b in self.model.buffers()]
        self._warmup = bool(self.cfg.get("warmup", False))
        return G, D

    @torch.no_grad()
    def after_g_step(self, G, step: int) -> None:
        weight = 1.0 - ema_decay(self.cfg.decay, step, self._warmup) if step >= self.cfg.start_step else 1.0
        torch._foreach_lerp_(self._dst, self._src, weight)
        if self._dst_buffers:
            torch._foreach_copy_(self._dst_buffers, self._src_buffers)

    def eval_generator(self) -> nn.Module:
        return self.model

    def prepare_eval(self, latent) -> None:
        """Before samples or scores: the EMA generator's own batch-norm statistics.
        latent(n, generator) -> (z, y) draws the model's inputs."""
        batches = int(self.cfg.get("bn_batches", 0))
        if not batches:
            return
        device = next(self.model.parameters()).device
        gen = torch.Generator(device).manual_seed(BN_SEED)
        recompute_bn_statistics(self.model, (latent(BN_BATCH, gen) for _ in range(batches)))

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
