"""Assemble the pieces of a run from its config: networks, loss, tricks, and for training the
optimizers, grad scalers, batches, latent noise and what each player trains through.

`build_networks` is used by training and, from a checkpoint's saved config and data spec, by
`gan eval` and `gan sample`, so both rebuild exactly the networks that were trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import open_dict
from torch import nn

from gan_cli import distributed
from gan_cli.augment import AugmentedD
from gan_cli.data import DataSpec, batch_source
from gan_cli.errors import GanError
from gan_cli.losses import GANLoss, build_loss
from gan_cli.lr_decay import check_decay
from gan_cli.models import build_models, build_schedule, resolve_arch_defaults
from gan_cli.optim import build_optimizer
from gan_cli.runtime import autocast_dtype, seed_everything, use_channels_last
from gan_cli.tricks import Trick, build_tricks

# Seeds derived from the run seed for streams that must not disturb the training RNG.
DATA_SEED_OFFSET = 1_000_003
NOISE_SEED_OFFSET = 4_000_037

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



@dataclass
class Training:
    """A run's parts for training: its networks, each player's optimizer and grad scaler, the
    batches and the latent noise, and the modules each player trains through (`build_training`)."""
    nets: Networks
    channels_last: bool
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    amp_dtype: torch.dtype | None
    scaler_g: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler
    batches: Any  # the batch source (gan_cli/data)
    noise: torch.Generator  # the latent vectors' own stream
    train_G: nn.Module
    train_D: nn.Module
    frozen_D: nn.Module
    real_augments: list


def build_training(cfg, data, spec: DataSpec, device: torch.device) -> Training:
    """The parts in the order that draws the global RNG as the run always has (the networks'
    initial weights first); the caller has seeded it with the run seed."""
    t = cfg.trainer
    nets = build_networks(cfg, spec, device)
    G, D = nets.G, nets.D
    channels_last = use_channels_last(t.channels_last, device, cfg.arch.name in CONV_ARCHS)
    if channels_last:
        G.to(memory_format=torch.channels_last)
        D.to(memory_format=torch.channels_last)
    opt_g = build_optimizer(cfg.optim.g, G.parameters(), device)
    opt_d = build_optimizer(cfg.optim.d, D.parameters(), device)
    check_decay(cfg.optim.get("decay", "none"))
    amp_dtype = autocast_dtype(t.amp, device, cfg.arch.name in CONV_ARCHS)
    fp16 = amp_dtype == torch.float16
    scaler_d = torch.amp.GradScaler(device.type, enabled=fp16)
    scaler_g = torch.amp.GradScaler(device.type, enabled=fp16)
    distributed.local_batch_size(t.batch_size)  # refuses a global batch that does not split evenly
    batches = batch_source(data, t.batch_size, cfg.seed + DATA_SEED_OFFSET, device, cfg.dataset.num_workers,
                           distributed.shard())
    # Latent noise: one generator shared by all ranks, drawn for the global batch (Trainer.latent).
    noise = torch.Generator(device).manual_seed(cfg.seed + NOISE_SEED_OFFSET)
    if distributed.world_size() > 1:
        seed_everything(distributed.rank_seed(cfg.seed))  # per-rank randomness inside losses and tricks
    # Each player trains through its wrapper (DDP when distributed); in the G phase D is called
    # plain (`frozen_D`): it gets no gradient there, so its DDP hooks must not be armed.
    # a growing arch (progan) leaves the blocks of other resolutions without gradients
    unused = nets.schedule is not None
    train_G = distributed.wrap(G, device, t.sync_batchnorm, find_unused_parameters=unused)
    train_D = distributed.wrap(D, device, t.sync_batchnorm, find_unused_parameters=unused)
    frozen_D = D
    if t.compile:
        train_G = torch.compile(train_G)
        if not nets.double_backward:  # torch.compile cannot differentiate twice: D stays eager
            train_D, frozen_D = torch.compile(train_D), torch.compile(frozen_D)
    # Augmenting tricks (diffaugment, ada): D is wrapped so that every image it sees, real or
    # fake, in either phase, is augmented; or only the real batch is (the negative control).
    d_augments = [trick.augment for trick in nets.tricks if trick.augments == "d_inputs"]
    real_augments = [trick.augment for trick in nets.tricks if trick.augments == "reals"]
    if d_augments:
        train_D, frozen_D = AugmentedD(train_D, d_augments), AugmentedD(frozen_D, d_augments)
    return Training(nets, channels_last, opt_g, opt_d, amp_dtype, scaler_g, scaler_d, batches, noise,
                    train_G, train_D, frozen_D, real_augments)
