"""Spectral normalisation (Miyato et al. 2018): every Linear, Conv, ConvTranspose and Embedding
weight of D (optionally G) is divided by its largest singular value, estimated by power
iteration (torch.nn.utils.parametrizations.spectral_norm; the u, v vectors are buffers, saved
with the network). PyTorch runs the power iteration on every training-mode forward, so D gets one
iteration per call (a penalised loss calls D more than once per step).

The one road to spectral norm: `arch=resnet` selects this trick (conf/arch/resnet.yaml) rather
than normalising D by itself, and `tricks.spectral_norm=null` drops it there. resnet's builder
still places it on D, as each layer is created (models.BUILDS_SPECTRAL_NORM; such a D says
`spectral_norm_built_in`), so its runs stay what they were; on every other arch `setup`
normalises the finished networks."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gan_cli.config_ranges import count, ranged
from gan_cli.errors import GanError
from gan_cli.tricks.base import Trick, register_trick

NORMALISED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
              nn.Embedding)


def apply_spectral_norm(module: nn.Module, power_iterations: int = 1) -> nn.Module:
    for m in list(module.modules()):
        if isinstance(m, NORMALISED):
            spectral_norm(m, n_power_iterations=power_iterations)
    return module


@dataclass
class SpectralNormConfig:
    networks: str = "d"  # d | g | both
    power_iterations: int = ranged(1, count(100))


# order 0: the first to set up, so that tricks copying the parameters (ema, historical averaging)
# see the normalised ones
@register_trick("spectral_norm", config=SpectralNormConfig, order=0)
class SpectralNorm(Trick):
    @property
    def on_d(self) -> bool:
        return self.cfg.networks in ("d", "both")

    def check(self, loss, run_cfg) -> None:
        if self.cfg.networks not in ("d", "g", "both"):
            raise GanError(f"spectral_norm.networks={self.cfg.networks}: choose d, g or both")
        if self.cfg.power_iterations < 1:
            raise GanError("spectral_norm.power_iterations must be at least 1")
        if self.on_d and loss.clips_weights:
            raise GanError(f"spectral_norm on the critic fights loss={loss.cfg.name}'s weight clipping: use loss=wgan_gp "
                           "or hinge with spectral_norm, or drop spectral_norm (tricks.spectral_norm=null: arch=resnet "
                           "selects it)")

    def d_options(self) -> dict:
        return {"spectral_norm": self.cfg.power_iterations} if self.on_d else {}

    def setup(self, G, D, loss):
        if self.on_d and not getattr(D, "spectral_norm_built_in", False):
            apply_spectral_norm(D, self.cfg.power_iterations)
        if self.cfg.networks in ("g", "both"):
            apply_spectral_norm(G, self.cfg.power_iterations)
        return G, D
