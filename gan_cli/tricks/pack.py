"""PacGAN (Lin et al. 2018): D judges m samples at once, concatenated along channels (images) or
features (vectors), so a generator whose samples look alike within a pack is easy to spot.

D is built for m times the input channels (`d_options`: pack=m) and packs its input batch itself
(samples i*m .. i*m+m-1 form pack i), so real and fake batches of N samples become N/m packed
inputs everywhere D is called (losses, penalties, feature matching).
"""

from __future__ import annotations

from dataclasses import dataclass

from gan_cli.config_ranges import count, ranged
from gan_cli.errors import GanError
from gan_cli.tricks.base import Trick, register_trick


@dataclass
class PackConfig:
    m: int = ranged(2, count(64))


@register_trick("pack", config=PackConfig, order=80)
class Pack(Trick):
    def check(self, loss, run_cfg) -> None:
        m, batch = self.cfg.m, run_cfg.trainer.batch_size
        if m < 1:
            raise GanError(f"pack.m={m} must be at least 1")
        if batch % m:
            raise GanError(f"pack.m={m} packs D's batches of trainer.batch_size={batch}: make the batch size a multiple of {m}")
        if run_cfg.dataset.conditional:
            raise GanError("pack does not support class-conditional training (one pack would mix labels): "
                           "set dataset.conditional=false or drop pack")

    def d_options(self) -> dict:
        return {"pack": self.cfg.m}
