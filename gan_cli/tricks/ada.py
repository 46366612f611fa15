"""Adaptive discriminator augmentation (Karras et al. 2020).

The pipeline (gan_cli/augment/ada.py) is applied to every image D sees with probability p. Every
`interval` D updates, p moves by

    p <- clamp(p + sign(r_t - target) * batch * interval / (kimg * 1000), 0, max_p)

with r_t = E[sign(D(x_real))] over those updates (D's outputs on augmented reals): D too sure of
the reals (r_t above the target 0.6) means it overfits, and p rises. The step lets p go from 0 to
1 in `kimg` thousand images (official: 500). The official code clamps at 0 only; p is also kept
below 1 (max_p) so that every augmentation stays non-leaking, as the paper requires. p and the
statistics of the interval in progress are in checkpoints; p and r_t are logged as ada/p, ada/rt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from gan_cli import distributed
from gan_cli.augment.ada import AdaPipeline, resolve_ops
from gan_cli.config_ranges import FRACTION, Range, count, positive, ranged
from gan_cli.errors import GanError
from gan_cli.tricks.base import StepContext, Trick, register_trick
from gan_cli.tricks.diffaugment import check_apply_to


def adjusted_p(p: torch.Tensor, rt: torch.Tensor, target: float, images: int, kimg: float, max_p: float) -> torch.Tensor:
    """The ADA update: one step of batch * interval / (kimg * 1000) toward more augmentation when
    r_t > target, less when below; no host sync (p stays a device tensor)."""
    return (p + torch.sign(rt - target) * (images / (kimg * 1000))).clamp(0.0, max_p)


@dataclass
class ADAConfig:
    # groups blit | geom | color, or single operations (xflip, rot90, int_translation, scale,
    # rotate, aniso, frac_translation, brightness, contrast, lumaflip, hue, saturation)
    augment: list[str] = field(default_factory=lambda: ["blit", "geom", "color"])
    target: float = ranged(0.6, FRACTION)  # r_t = E[sign(D(x_real))] is steered toward it
    interval: int = ranged(4, count(10**6))  # D updates between adjustments of p
    kimg: float = ranged(500.0, positive())  # thousands of images for p to go from 0 to 1
    initial_p: float = ranged(0.0, FRACTION)
    max_p: float = ranged(0.99, Range(0, 1, high_open=True))  # p < 1: every augmentation stays non-leaking
    apply_to: str = "all"  # all | reals (the negative control)


@register_trick("ada", config=ADAConfig, order=120)
class ADA(Trick):
    images_only = True

    def __init__(self, cfg, run_cfg):
        super().__init__(cfg, run_cfg)
        self.augments = check_apply_to(self.name, cfg.apply_to)
        self.p = torch.tensor(float(cfg.initial_p))
        self.sign_sum = torch.zeros(())
        self.sign_count = torch.zeros(())
        # the last interval's r_t; 0 until the first adjustment (a nan would read as divergence)
        self.rt = torch.zeros(())
        self.d_updates = 0
        self.pipeline: AdaPipeline | None = None
        self._device = torch.device("cpu")

    def check(self, loss, run_cfg) -> None:
        c = self.cfg
        if not (0 <= c.initial_p <= c.max_p < 1):
            raise GanError(f"tricks.ada: need 0 <= initial_p <= max_p < 1 (got {c.initial_p}, {c.max_p}); p < 1 keeps "
                           "every augmentation non-leaking")
        if c.interval < 1 or c.kimg <= 0:
            raise GanError(f"tricks.ada: need interval >= 1 and kimg > 0 (got {c.interval}, {c.kimg})")
        if not -1 < c.target < 1:
            raise GanError(f"tricks.ada.target={c.target}: r_t = E[sign(D(x))] lies in [-1, 1]; the paper uses 0.6")

    def check_data(self, spec) -> None:
        super().check_data(spec)
        resolve_ops(list(self.cfg.augment), spec.channels)  # refuses RGB-only ops on grey data
        self.pipeline = AdaPipeline(list(self.cfg.augment), spec.channels, self.p)

    def setup(self, G, D, loss):
        self._device = next(D.parameters()).device
        self._to_device()
        return G, D

    def _to_device(self) -> None:
        self.p, self.sign_sum, self.sign_count, self.rt = (
            t.to(self._device) for t in (self.p, self.sign_sum, self.sign_count, self.rt))
        if self.pipeline is not None:
            self.pipeline.p = self.p

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        return self.pipeline(x)

    def d_terms(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        with torch.no_grad():  # the heuristic only: D's outputs on (augmented) reals
            out = ctx.D(ctx.real, ctx.y_real).float()
        self.sign_sum += torch.sign(out).sum()
        self.sign_count += out.numel()
        return {}

    def after_d_step(self, D, step: int) -> None:
        self.d_updates += 1
        if self.d_updates % self.cfg.interval:
            return
        totals = torch.stack([self.sign_sum, self.sign_count])
        if distributed.world_size() > 1:  # every rank the same r_t, so the same p
            totals = distributed.mean(totals)
        self.rt = totals[0] / totals[1].clamp(min=1)
        images = self.run_cfg.trainer.batch_size * self.cfg.interval
        self.p = adjusted_p(self.p, self.rt, self.cfg.target, images, self.cfg.kimg, self.cfg.max_p)
        self.pipeline.p = self.p
        self.sign_sum, self.sign_count = torch.zeros_like(self.sign_sum), torch.zeros_like(self.sign_count)

    def log_row(self) -> dict[str, float]:
        return {"p": float(self.p), "rt": float(self.rt)}

    def state_dict(self) -> dict:
        return {"p": self.p, "sign_sum": self.sign_sum, "sign_count": self.sign_count, "rt": self.rt,
                "d_updates": self.d_updates}

    def load_state_dict(self, state: dict) -> None:
        self.p, self.sign_sum, self.sign_count = state["p"], state["sign_sum"], state["sign_count"]
        self.rt = state.get("rt", torch.zeros(()))
        self.d_updates = int(state["d_updates"])
        self._to_device()
