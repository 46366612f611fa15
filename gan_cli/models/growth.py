"""ProGAN's growing schedule, as a function of the number of real images D has seen.

Timeline (S = arch.grow.stable_images, F = arch.grow.fade_images):
  start level: S images stable; then for each next level: F images fading in (alpha rising
  linearly 0 -> 1), S images stable; the last level stays. This is the official code's phase
  layout (lod_training_kimg then lod_transition_kimg).

The trainer hands every real batch to `step` before D sees it: the schedule sets the phase of
the batch on every growing network (G, D and G's EMA copy) and returns the batch as D should see
it: box-downsampled to the current resolution and, while fading, crossfaded with its own
2x-coarser version exactly as G's output is. Its state is one integer, so resume is exact.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gan_cli.errors import GanError
from gan_cli.models.progan import Growing, levels_for


class GrowthSchedule:
    def __init__(self, cfg, resolution: int, networks: list[nn.Module]):
        self.max_level = levels_for(resolution)
        if cfg.start_resolution < 4 or 2 ** round(math.log2(cfg.start_resolution)) != cfg.start_resolution:
            raise GanError(f"arch.grow.start_resolution={cfg.start_resolution} must be a power of two from 4")
        if cfg.start_resolution > resolution:
            raise GanError(f"arch.grow.start_resolution={cfg.start_resolution} is above dataset.resolution={resolution}")
        if cfg.stable_images < 0 or cfg.fade_images < 0:
            raise GanError("arch.grow.stable_images and fade_images count images: they cannot be negative")
        self.start_level = levels_for(cfg.start_resolution) if cfg.start_resolution > 4 else 0
        self.stable, self.fade = int(cfg.stable_images), int(cfg.fade_images)
        self.parts = [m for net in networks for m in net.modules() if isinstance(m, Growing)]
        self.images = 0  # real images shown to D so far
        self.level, self.alpha = self.phase(0)
        self._apply()

    def phase(self, images: int) -> tuple[int, float]:
        """(level, alpha) for the batch that starts after `images` real images."""
        if images < self.stable:
            return self.start_level, 1.0
        period = self.fade + self.stable
        if period == 0:  # nothing to wait for: straight to the top level
            return self.max_level, 1.0
        done, into = divmod(images - self.stable, period)
        level = self.start_level + 1 + done
        if level > self.max_level:
            return self.max_level, 1.0
        alpha = min(1.0, into / self.fade) if self.fade else 1.0
        return level, alpha

    @property
    def resolution(self) -> int:
        return 4 * 2**self.level

    def _apply(self) -> None:
        for part in self.parts:
            part.set_phase(self.level, self.alpha)

    def step(self, real: torch.Tensor, images: int | None = None) -> torch.Tensor:
        """Advance by one batch of `images` real images (default len(real); under several
        processes, the global batch); return `real` at the batch's phase."""
        self.level, self.alpha = self.phase(self.images)
        self._apply()
        self.images += len(real) if images is None else int(images)
        return self.transform_real(real)

    def transform_real(self, real: torch.Tensor) -> torch.Tensor:
        factor = real.shape[-1] // self.resolution
        x = F.avg_pool2d(real, factor) if factor > 1 else real
        if self.alpha < 1.0:
            coarse = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
            x = coarse + (x - coarse) * self.alpha
        return x

    def log_row(self) -> dict:
        return {"grow/resolution": self.resolution, "grow/alpha": round(self.alpha, 4), "grow/images": self.images}

    def state_dict(self) -> dict:
        return {"images": self.images}

    def load_state_dict(self, state: dict) -> None:
        # The networks restore their own phase from their state dicts; the next `step` moves on.
        self.images = int(state["images"])
        self.level, self.alpha = self.phase(self.images)
