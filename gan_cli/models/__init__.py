"""Build the generator and discriminator named by the `arch` config for a given dataset."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from gan_cli.errors import GanError
from gan_cli.models.dcgan import DCGANGenerator, dcgan_discriminator
from gan_cli.models.layers import dcgan_init
from gan_cli.models.mlp import MLPGenerator, mlp_discriminator

# name -> function(arch_cfg, data, d_options) -> (G, D). Later archs register here.
ARCHS: dict[str, Callable] = {}


def register_arch(name: str):
    def wrap(fn):
        ARCHS[name] = fn
        return fn

    return wrap


@register_arch("mlp")
def _mlp(cfg, data, num_classes: int, d_options: dict):
    shape = tuple(data.shape)
    image = data.kind == "image"
    G = MLPGenerator(cfg.z_dim, shape, list(cfg.g_hidden), cfg.g_norm, cfg.activation, num_classes, image=image)
    D = mlp_discriminator(shape, list(cfg.d_hidden), cfg.d_norm, cfg.activation, num_classes, **d_options)
    return G, D


@register_arch("dcgan")
def _dcgan(cfg, data, num_classes: int, d_options: dict):
    if data.kind != "image":
        raise GanError(f"arch=dcgan needs images, but dataset={data.name} is 2-D points: use arch=mlp")
    G = DCGANGenerator(cfg.z_dim, data.channels, data.resolution, cfg.width, cfg.g_norm, num_classes)
    D = dcgan_discriminator(data.channels, data.resolution, cfg.width, cfg.d_norm, num_classes, **d_options)
    return G, D


def build_models(cfg_arch, data, num_classes: int = 0, d_options: dict | None = None) -> tuple[nn.Module, nn.Module]:
    """(G, D) for `data`. `d_options` carries build-time trick options for D
    (minibatch_stddev=group_size, minibatch_discrimination=(B, C), in_channels multiplier...)."""
    if cfg_arch.name not in ARCHS:
        raise GanError(f"unknown arch '{cfg_arch.name}': choose one of {', '.join(sorted(ARCHS))}")
    G, D = ARCHS[cfg_arch.name](cfg_arch, data, num_classes, dict(d_options or {}))
    if cfg_arch.init == "dcgan":
        dcgan_init(G)
        dcgan_init(D)
    elif cfg_arch.init != "default":
        raise GanError(f"unknown arch.init '{cfg_arch.init}': choose dcgan or default")
    return G, D
