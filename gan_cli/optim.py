"""Optimizers from an `optim.g` / `optim.d` config node (each network has its own: TTUR)."""

from __future__ import annotations

import torch

from gan_cli.errors import GanError


def build_optimizer(cfg, params, device: torch.device) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    # foreach kernels update all parameters in a few fused ops (fast on CPU and GPU alike)
    common = {"lr": cfg.lr, "weight_decay": cfg.weight_decay, "foreach": True}
    if device.type == "cuda" and cfg.name == "adam":
        # One kernel for the whole update; with an fp16 GradScaler it also skips steps with
        # inf/NaN gradients on the device, where foreach needs a host sync (`found_inf.item()`).
        common = {"lr": cfg.lr, "weight_decay": cfg.weight_decay, "fused": True}
    if cfg.lr <= 0:
        raise GanError(f"learning rate {cfg.lr} must be positive (optim.g.lr / optim.d.lr)")
    if cfg.name == "adam":
        if len(cfg.betas) != 2:
            raise GanError(f"adam needs two betas, got {list(cfg.betas)}")
        return torch.optim.Adam(params, betas=tuple(cfg.betas), eps=cfg.eps, **common)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, eps=cfg.eps, momentum=cfg.momentum, **common)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, momentum=cfg.momentum, **common)
    raise GanError(f"unknown optimizer '{cfg.name}': choose adam, rmsprop or sgd")
