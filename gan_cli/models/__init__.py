"""Build the generator and discriminator named by the `arch` config for a given dataset."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from gan_cli.errors import GanError
from gan_cli.models.biggan import BigGANDiscriminator, BigGANGenerator
from gan_cli.models.dcgan import DCGANGenerator, dcgan_discriminator
from gan_cli.models.growth import GrowthSchedule
from gan_cli.models.layers import dcgan_init
from gan_cli.models.mlp import MLPGenerator, mlp_discriminator
from gan_cli.models.progan import ProGANGenerator, progan_discriminator
from gan_cli.models.resnet import VARIANTS, ResNetGenerator, resnet_discriminator
from gan_cli.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator

# weight initialisations an arch offers besides `default` (its own) and `dcgan`
ARCH_INITS = {"biggan": ("ortho", "n02")}

# name -> function(arch_cfg, data, num_classes, d_options) -> (G, D)
ARCHS: dict[str, Callable] = {}

# Archs whose D builder places spectral norm itself (d_options["spectral_norm"] = power iterations,
# from tricks=[spectral_norm]), layer by layer as it creates them, so that a seed draws weights and
# power-iteration vectors in the order it always did. On every other arch the trick normalises the
# finished D, and the option is not passed to the builder.
BUILDS_SPECTRAL_NORM = ("resnet",)


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


def _needs_images(cfg, data) -> None:
    if data.kind != "image":
        raise GanError(f"arch={cfg.name} needs images, but dataset={data.name} is 2-D points: use arch=mlp")


def _own_init(cfg) -> None:
    if cfg.init != "default":
        raise GanError(f"arch={cfg.name} initialises its own weights (arch.init={cfg.init} would undo them): "
                       "use arch.init=default")


def _no_pack(cfg, d_options: dict) -> None:
    # PacGAN's trick (tricks=[pack]) packs D's inputs through `Discriminator`; these bodies are
    # not built for m times the channels.
    if d_options.pop("pack", 1) != 1:
        raise GanError(f"tricks=[pack] is not supported by arch={cfg.name} yet: use arch=dcgan or mlp, or drop pack")


def resolve_arch_defaults(cfg_arch) -> None:
    """Write the arch's automatic choices into its config, where the run's saved config and the
    tricks' checks see them: resnet's variant."""
    if cfg_arch.name == "resnet":
        cfg_arch.variant = cfg_arch.variant or "sngan"
        if cfg_arch.variant not in VARIANTS:
            raise GanError(f"arch.variant={cfg_arch.variant} is not a resnet variant: choose {' or '.join(VARIANTS)}")


@register_arch("resnet")
def _resnet(cfg, data, num_classes: int, d_options: dict):
    _needs_images(cfg, data)
    _own_init(cfg)
    _no_pack(cfg, d_options)
    G = ResNetGenerator(cfg.z_dim, data.channels, data.resolution, cfg.width, cfg.g_norm, num_classes)
    D = resnet_discriminator(data.channels, data.resolution, cfg.width, cfg.d_norm, num_classes,
                             cfg.variant or "sngan", **d_options)
    return G, D


@register_arch("progan")
def _progan(cfg, data, num_classes: int, d_options: dict):
    _needs_images(cfg, data)
    _own_init(cfg)
    _no_pack(cfg, d_options)
    if num_classes:
        raise GanError("arch=progan is unconditional here: use arch=resnet or dcgan with dataset.conditional=true")
    if cfg.d_norm not in ("none", "auto"):
        raise GanError(f"arch=progan's D has no normalisation layers (arch.d_norm={cfg.d_norm}): use arch.d_norm=none")
    G = ProGANGenerator(cfg.z_dim, data.channels, data.resolution, cfg.width)
    D = progan_discriminator(data.channels, data.resolution, cfg.width, num_classes, **d_options)
    return G, D


def _own_d_layers(cfg, d_options: dict) -> None:
    """stylegan2 and biggan build their whole D themselves (stylegan2 has its own minibatch stddev)."""
    if d_options:
        raise GanError(f"arch={cfg.name} builds its own discriminator: drop tricks "
                       f"{', '.join(sorted(d_options))} (arch.mbstd_group_size sets stylegan2's minibatch stddev)")


def _power_of_two(cfg, data, smallest: int) -> None:
    r = data.resolution
    if r < smallest or r & (r - 1):
        raise GanError(f"arch={cfg.name} doubles the resolution block by block: dataset.resolution={r} must be a power "
                       f"of two, at least {smallest} (e.g. 32, 64, 128)")


@register_arch("stylegan2")
def _stylegan2(cfg, data, num_classes: int, d_options: dict):
    _needs_images(cfg, data)
    _own_init(cfg)
    _own_d_layers(cfg, d_options)
    _power_of_two(cfg, data, 8)
    if cfg.d_architecture not in ("resnet", "orig"):
        raise GanError(f"arch.d_architecture={cfg.d_architecture}: choose resnet or orig")
    G = StyleGAN2Generator(cfg.z_dim, data.channels, data.resolution, num_classes, cfg.w_dim, cfg.mapping_layers,
                           cfg.mapping_lr, cfg.channel_base, cfg.channel_max, cfg.conv_clamp, cfg.style_mixing)
    D = StyleGAN2Discriminator(data.channels, data.resolution, num_classes, cfg.d_architecture, cfg.channel_base,
                               cfg.channel_max, cfg.mbstd_group_size, cfg.conv_clamp)
    return G, D


@register_arch("biggan")
def _biggan(cfg, data, num_classes: int, d_options: dict):
    _needs_images(cfg, data)
    _own_d_layers(cfg, d_options)
    _power_of_two(cfg, data, 32)
    if cfg.init == "dcgan":
        raise GanError("arch=biggan initialises its own weights: use arch.init=ortho (the paper's, = default) or n02 "
                       "(the CIFAR-10 script's)")
    init = "ortho" if cfg.init == "default" else cfg.init
    G = BigGANGenerator(cfg.z_dim, data.channels, data.resolution, num_classes, cfg.width, cfg.shared_dim,
                        cfg.hierarchical, cfg.attention, init)
    D = BigGANDiscriminator(data.channels, data.resolution, num_classes, cfg.width, cfg.attention, init)
    return G, D


def check_arch_knobs(cfg_arch) -> None:
    """Knobs that belong to one arch, refused on the others (one line each, before any work)."""
    mixing = cfg_arch.get("style_mixing") or 0.0
    if mixing and cfg_arch.name != "stylegan2":
        raise GanError(f"arch.style_mixing mixes the styles of a mapping network, which arch={cfg_arch.name} has not: "
                       "use arch=stylegan2 or set arch.style_mixing=0")
    if not 0.0 <= mixing <= 1.0:
        raise GanError(f"arch.style_mixing={mixing} is a probability: choose a value in [0, 1] (the paper: 0.9)")


def build_schedule(cfg_arch, data, networks: list[nn.Module]):
    """The arch's training schedule (progan's growing), or None: see models/growth.py."""
    if cfg_arch.name != "progan":
        return None
    if cfg_arch.grow is None:
        raise GanError("arch=progan needs its growing schedule (arch.grow): select it with arch=progan")
    return GrowthSchedule(cfg_arch.grow, data.resolution, networks)


def build_models(cfg_arch, data, num_classes: int = 0, d_options: dict | None = None) -> tuple[nn.Module, nn.Module]:
    """(G, D) for `data`. `d_options` carries build-time trick options for D
    (minibatch_stddev=group_size, minibatch_discrimination=(B, C), in_channels multiplier...)."""
    if cfg_arch.name not in ARCHS:
        raise GanError(f"unknown arch '{cfg_arch.name}': choose one of {', '.join(sorted(ARCHS))}")
    check_arch_knobs(cfg_arch)
    own_inits = ARCH_INITS.get(cfg_arch.name, ())
    if cfg_arch.init not in ("default", "dcgan", *own_inits):
        raise GanError(f"unknown arch.init '{cfg_arch.init}': choose {', '.join(('dcgan', 'default', *own_inits))}")
    d_options = dict(d_options or {})
    if cfg_arch.name not in BUILDS_SPECTRAL_NORM:
        d_options.pop("spectral_norm", None)
    G, D = ARCHS[cfg_arch.name](cfg_arch, data, num_classes, d_options)
    if cfg_arch.init == "dcgan":
        dcgan_init(G)
        dcgan_init(D)
    return G, D
