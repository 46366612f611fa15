"""One-sided label smoothing (Salimans et al. 2016): D's real targets become `real` (0.9) while
fake targets stay 0, so D's optimum is real * p_data / (p_data + p_model) and never pushes the
generator towards regions without data. Smoothing fakes too (tricks.label_smoothing.fake > 0) is
a known anti-pattern, offered only as an explicit option."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gan_cli.config_ranges import FRACTION, ranged
from gan_cli.errors import GanError
from gan_cli.losses import LOSSES
from gan_cli.tricks.base import Trick, register_trick

log = logging.getLogger("gan")


@dataclass
class LabelSmoothingConfig:
    real: float = ranged(0.9, FRACTION)
    # Two-sided smoothing (fake target > 0) is a known anti-pattern; only on explicit request.
    fake: float = ranged(0.0, FRACTION)


@register_trick("label_smoothing", config=LabelSmoothingConfig, order=30)
class LabelSmoothing(Trick):
    def check(self, loss, run_cfg) -> None:
        if not loss.supports_label_smoothing:
            bce = ", ".join(sorted(n for n, cls in LOSSES.items() if cls.supports_label_smoothing))
            extra = " (for lsgan set loss.lsgan_b instead)" if loss.cfg.name == "lsgan" else ""
            raise GanError(f"label_smoothing needs binary cross-entropy targets, which loss={loss.cfg.name} has not: "
                           f"use loss={bce}{extra}, or drop label_smoothing")
        real, fake = self.cfg.real, self.cfg.fake
        if not 0.0 < real <= 1.0 or not 0.0 <= fake < real:
            raise GanError(f"label_smoothing real={real}, fake={fake}: need 0 <= fake < real <= 1")

    def setup(self, G, D, loss):
        loss.real_target, loss.fake_target = self.cfg.real, self.cfg.fake
        if self.cfg.fake > 0:
            log.warning("label_smoothing.fake=%s smooths fake targets too (two-sided), a known anti-pattern", self.cfg.fake)
        return G, D
