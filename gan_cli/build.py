"""Assemble the pieces of a run from its config: networks, loss, tricks, optimizers.

Used by training and, from a checkpoint's saved config and data spec, by `gan eval` and
`gan sample`, so both rebuild exactly the networks that were trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import open_dict
from torch import nn

from gan_cli.data import DataSpec
from gan_cli.errors import GanError
from gan_cli.losses import GANLoss, build_loss
from gan_cli.models import build_models, build_schedule, resolve_arch_defaults
from gan_cli.tricks import Trick, build_tricks

# channels-last memory format on GPUs (stylegan2 is left out: its per-sample grouped convs
# reshape the batch into channels, and no GPU has measured whether the format helps them)
CONV_ARCHS = ("dcgan", "resnet", "progan", "biggan")


@dataclass
class Networks:
    G: nn.Module
    D: nn.Module
    loss: GANLoss
    tricks: list[Trick]
    num_classes: int
    # what the arch changes as training goes on (progan's growing), or None: the trainer hands
    # it every real batch (`step`) and checkpoints its state
    schedule: Any = None

    @property
    def G_eval(self) -> nn.Module:
        """The generator used for samples and scores: a trick's (EMA's average) when one has it."""
        return next((G for trick in self.tricks if (G := trick.eval_generator()) is not None), self.G)

    @property
    def double_backward(self) -> bool:
        """Whether a D step differentiates D twice (torch.compile cannot: D then stays eager)."""
        return bool(penalising(self.loss, self.tricks))


def penalising(loss: GANLoss, tricks: list[Trick]) -> list:
    """The loss and tricks that penalise D's per-sample input gradients (wgan_gp, dragan, r1, r2):
    each differentiates through D twice, and batch norm in D would couple the samples."""
    return [part for part in (loss, *tricks) if part.gradient_penalty]


def resolve_arch(cfg, loss: GANLoss, tricks: list[Trick] = ()) -> None:
    """Fill config values chosen automatically (d_norm=auto) and refuse impossible combinations."""
    penalised = [f"loss={cfg.loss.name}" if part is loss else f"tricks=[{part.name}]"
                 for part in penalising(loss, tricks)]
    with open_dict(cfg):
        resolve_arch_defaults(cfg.arch)
        if cfg.arch.d_norm == "auto":
            cfg.arch.d_norm = "layer" if penalised else ("batch" if cfg.arch.name == "dcgan" else "none")
    if penalised and cfg.arch.d_norm == "batch":
        raise GanError(
            f"{penalised[0]} penalises per-sample gradients, which batch norm in the critic couples: "
            "use arch.d_norm=layer (or none, instance)"
        )


def build_networks(cfg, spec: DataSpec, device: torch.device | str = "cpu") -> Networks:
    loss = build_loss(cfg.loss)
    tricks = build_tricks(cfg.tricks, cfg)
    resolve_arch(cfg, loss, tricks)
    num_classes = 0
    if cfg.dataset.conditional:
        if not spec.num_classes:
            raise GanError(f"dataset.conditional=true but {spec.name} has no class labels")
        num_classes = spec.num_classes
    d_options: dict = {}
    for trick in tricks:
        trick.check(loss, cfg)
        trick.check_data(spec)
        d_options.update(trick.d_options())
    G, D = build_models(cfg.arch, spec, num_classes, d_options)
    G, D = G.to(device), D.to(device)
    for trick in tricks:
        G, D = trick.setup(G, D, loss)
    nets = Networks(G, D, loss, tricks, num_classes)
    nets.schedule = build_schedule(cfg.arch, spec, [G, D, nets.G_eval])
    return nets

